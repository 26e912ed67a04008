// What the programs do with a decoded directive, reply or report, run on
// fuzzed input: every rendering and check a terminal, the broker or a CLI
// applies to data that came from the network or a file.
#pragma once

#include <chrono>

#include "flatcast/directive.h"
#include "flatcast/language.h"
#include "flatcast/public_view.h"
#include "flatcast/report.h"
#include "flatcast/signing.h"
#include "fuzz_support.h"

namespace flatcast::fuzz {

// A directive as a terminal receives it (Deliver) and the feed publishes it.
inline void ExerciseStoredDirective(const v1::StoredDirective& stored) {
  const v1::Directive& d = stored.directive();
  const Registry& registry = SmallRegistry();
  (void)RenderDirectiveText(stored);
  (void)RenderDirectiveText(stored, TimePoint{} + std::chrono::hours(24 * 365 * 57));
  (void)RenderDirectiveText(stored, std::nullopt, {"en", "zh-Hant-TW", "bo"});
  (void)CheckTranslations(d);
  (void)DirectiveToJson(stored);
  (void)PublicReleaseText(d, std::nullopt);
  (void)DirectiveSigningMessage(d);
  for (const Unit& unit : registry.units()) (void)IsAddressedTo(d, unit.code, unit.tier);
  if (ValidateDirective(d, registry).ok()) (void)AddressedUnits(d, registry);

  PublicEntry entry;
  entry.latest = stored;
  entry.record.set_directive_id(d.id());
  entry.record.set_state(v1::PublicRecord::RELEASED);
  entry.record.set_public_id(d.id() + "-P0001");
  *entry.record.mutable_released_at() = d.public_release();
  *entry.record.mutable_first_sent() = d.sent();
  (void)PublicDirectiveJson(entry);
  (void)CapAlertXml(entry, &registry);
  (void)RenderPublicDocument(entry, &registry, nullptr);
}

// A directive as the broker receives it in a PublishRequest or an AMEND.
inline void ExerciseSubmittedDirective(const v1::Directive& d) {
  const Registry& registry = SmallRegistry();
  if (ValidateDirective(d, registry).ok()) (void)AddressedUnits(d, registry);
  (void)DirectiveSigningMessage(d);
}

}  // namespace flatcast::fuzz
