// Replies to a terminal's requests for attached documents, as a hostile or
// broken broker might send them: a sequence of envelopes (each prefixed by
// its length, 2 bytes little-endian) handed to a session that stored a
// directive with two documents and fetches them (HashingShelf). Whatever
// arrives, a document counts as kept only when its bytes are the declared
// ones.
#include <cstddef>
#include <cstdint>

#include "flatcast/attachment.h"
#include "flatcast/clock.h"
#include "flatcast/document_fetch.h"
#include "flatcast/duration.h"
#include "flatcast/subscriber/inbox.h"
#include "flatcast/subscriber/terminal_session.h"
#include "flatcast/wire.h"
#include "fuzz_support.h"

using namespace flatcast;

namespace {

// The two documents: a tiny PDF (a fuzzer can find it) and a PNG of three chunks.
const std::string& Small() {
  static const std::string s = "%PDF-1.7\nok";
  return s;
}
const std::string& Large() {
  static const std::string s = [] {
    std::string png = "\x89PNG\r\n\x1a\n";
    png.resize(2 * kAttachmentChunkBytes + 17, 'p');
    return png;
  }();
  return s;
}

std::string DeliverBytes() {
  v1::Envelope env;
  env.set_protocol_version(wire::kProtocolVersion);
  v1::StoredDirective* stored = env.mutable_deliver()->mutable_directive();
  stored->set_seq(3);
  v1::Directive* d = stored->mutable_directive();
  d->set_id("52-HEALTH-20261128-0001");
  d->set_version(1);
  d->set_issuer_unit("52");
  d->set_issuer_department("HEALTH");
  d->set_title("With documents");
  d->add_scope("5201");
  d->add_target_tiers(v1::COMMUNITY);
  d->set_status(v1::ACTUAL);
  *d->add_attachments() = DescribeAttachment("notice.pdf", Small()).value();
  *d->add_attachments() = DescribeAttachment("map.png", Large()).value();
  return wire::Encode(env);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static FakeClock clock(ParseTime("2026-11-28T10:00:00Z").value());
  static const std::string deliver = DeliverBytes();
  subscriber::MemoryInbox inbox;
  HashingShelf shelf;
  FetchOptions fetch;
  fetch.seed = 1;
  DocumentFetcher fetcher(clock, fetch);
  subscriber::SessionOptions options;
  options.documents = &fetcher;
  options.shelf = &shelf;
  subscriber::TerminalSession session("520102001001", Tier::kCommunity, inbox, clock, nullptr, options);
  std::vector<std::string> out;
  (void)session.Hello();
  v1::Envelope welcome;
  welcome.set_protocol_version(wire::kProtocolVersion);
  welcome.mutable_welcome()->set_unit_code("520102001001");
  (void)session.OnMessage(wire::Encode(welcome), out);
  if (!session.OnMessage(deliver, out).ok()) __builtin_trap();
  size_t at = 0;
  for (int i = 0; i < 64 && at + 2 <= size; ++i) {
    const size_t n = std::min<size_t>(data[at] | (size_t{data[at + 1]} << 8), size - at - 2);
    at += 2;
    out.clear();
    (void)session.OnMessage(fuzz::AsView(data + at, n), out);
    at += n;
    clock.Advance(std::chrono::seconds(20));  // every wait passes now and then
    session.PollDocuments(out);
  }
  // Kept means checked: only the declared bytes hash to the declared digest.
  const uint64_t kept = session.counters().documents_kept;
  if (kept > 2 || kept != fetcher.counters().completed) __builtin_trap();
  for (const DocumentProgress& p : fetcher.Progress()) {
    if (p.complete != shelf.Complete(p.doc)) __builtin_trap();
    if (p.held > p.doc.size) __builtin_trap();
  }
  return 0;
}
