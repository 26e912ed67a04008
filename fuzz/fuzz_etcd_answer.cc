// What etcd's v3 gateway answers a broker (docs/HA.md): lease grants and
// renewals, reads, transactions, errors, and the leader key's and sync
// record's values inside them. The first byte picks the decoder; a value
// that decodes is encoded again and must decode to the same.
#include <cstddef>
#include <cstdint>
#include <string>

#include "flatcast/ha/etcd.h"
#include "flatcast/ha/leadership.h"

using namespace flatcast;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 7) {
    case 0:
      (void)ha::gateway::ParseGrant(body);
      break;
    case 1:
      (void)ha::gateway::ParseKeepAlive(body);
      break;
    case 2: {
      auto kv = ha::gateway::ParseRange(body);
      if (kv.ok() && *kv) (void)ha::ParseLeaderValue((*kv)->value, (*kv)->create_revision);
      break;
    }
    case 3:
      (void)ha::gateway::ParseTxn(body);
      break;
    case 4:
      (void)ha::gateway::ErrorMessage(body);
      break;
    case 5: {
      auto info = ha::ParseLeaderValue(std::string(body), 1);
      if (info.ok()) {
        ha::LeadershipOptions o;
        o.name = info->name;
        o.advertise = info->advertised;
        auto again = ha::ParseLeaderValue(ha::LeaderValue(o), 1);
        if (!again.ok() || again->name != info->name || again->advertised != info->advertised) {
          __builtin_trap();
        }
      }
      break;
    }
    case 6: {
      auto sync = ha::ParseSyncValue(std::string(body));
      if (sync.ok()) {
        auto again = ha::ParseSyncValue(ha::SyncValue(*sync));
        if (!again.ok() || again->leader != sync->leader || again->standby != sync->standby ||
            again->epoch != sync->epoch) {
          __builtin_trap();
        }
      }
      break;
    }
  }
  return 0;
}
