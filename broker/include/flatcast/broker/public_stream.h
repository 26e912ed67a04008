// What the broker gives the public side (docs/PUBLIC.md): the public stream.
// Each change to what is public (a release, an amendment or a cancellation
// after it) gives the directive's record the next public_seq; its
// documents (JSON and CAP) are rendered and signed with the release key
// here, and public servers (flatcast-public, keys with the `public` role)
// receive them over the broker's client endpoint, from the cursor they say
// they hold. The broker itself serves no HTTP to the public.
#pragma once

#include <string>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/signing.h"

namespace flatcast::broker {

// The release key: an Ed25519 pair that signs every public document, and
// the release keys public servers publish (this one and retired ones, with
// their validity from the key registry).
struct PublicSigning {
  KeyPair key;
  std::vector<v1::ReleaseKey> announced;
  // False once the key registry no longer holds the key as valid (it was
  // revoked): nothing is signed with it and no public server is served
  // until the broker restarts with a valid one.
  bool valid = true;
};

// Told what is public each time it changes (tests; a public server gets the
// same documents over its link).
class PublicSink {
 public:
  virtual ~PublicSink() = default;
  // Every public document now, in public_seq order.
  virtual void Publish(const std::vector<v1::PublicDocument>& documents) = 0;
};

}  // namespace flatcast::broker
