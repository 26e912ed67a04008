// The terminal daemon's inbox on disk.
//
// Layout under the state directory:
//   inbox/<id>.v<version>.txt   RenderDirectiveText, for people
//   inbox/<id>.v<version>.json  DirectiveToJson of the StoredDirective; its
//                               presence is what "stored" means
//   state.json                  {"last_seq": N, "pending_acks": [...],
//                               "pending_ratings": [...], "acknowledged":
//                               [...], "rated": [...], "overdue": {...}}
//                               (docs/STORAGE.md, "Subscriber state")
//   lock                        held (flock) while a DirectoryInbox is open
//   attachments/<sha256 hex>    an attached document, fetched whole and
//                               checked against its SHA-256 (read only);
//                               <hex>.part while it is being fetched
//                               (document_fetch.h, DirectoryShelf)
// Every file is replaced atomically (temporary file, fsync, rename, fsync of
// the directory). A directive's files are written before state.json, so after
// a crash between the two Open() finds the directive stored and raises
// last_seq to it; its acknowledgement, never sent, is recorded as pending.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flatcast/subscriber/inbox.h"

namespace flatcast::subscriber {

class DirectoryInbox final : public IndexedInbox {
 public:
  // Opens (creating it if needed) the inbox in `state_dir`. Fails with
  // Corruption naming the file when state.json or a stored directive does not
  // parse, with Unavailable when another process holds the directory open,
  // and with IOError when the directory cannot be created or read.
  // Each directive's text file is in the language `languages` prefers
  // (language.h, PreferredText).
  static Result<std::unique_ptr<DirectoryInbox>> Open(const std::string& state_dir,
                                                      std::vector<std::string> languages = {});
  ~DirectoryInbox() override;

  DirectoryInbox(const DirectoryInbox&) = delete;
  DirectoryInbox& operator=(const DirectoryInbox&) = delete;

  Status Put(const v1::StoredDirective& stored) override;

  // Writes state.json again. Every change is already durable when it returns;
  // this is for shutdown paths that want to say so explicitly.
  Status Flush();

  const std::string& state_dir() const { return state_dir_; }

 protected:
  Status Persist() override { return WriteState(); }

 private:
  DirectoryInbox(std::string state_dir, int lock_fd, std::vector<std::string> languages);
  Status Load();
  Status WriteState();

  std::string state_dir_;
  int lock_fd_;
  std::vector<std::string> languages_;
};

// Where a terminal keeps attached documents: state_dir/attachments.
std::string AttachmentsDir(const std::string& state_dir);

// ---- read-only access, safe while a daemon writes the same directory ----

// The stored directives in `state_dir`, ordered by seq. An empty or missing
// inbox gives an empty list; a file that does not parse gives Corruption.
Result<std::vector<v1::StoredDirective>> ReadInbox(const std::string& state_dir);

// The latest stored version of each directive in `stored` (as ReadInbox
// gives it), in seq order: what terminals show.
std::vector<const v1::StoredDirective*> LatestVersions(const std::vector<v1::StoredDirective>& stored);

// The files of one stored directive: `version`, or the highest stored one.
// NotFound names the id when nothing matches.
struct InboxFiles {
  std::string id;
  uint32_t version = 0;
  std::string json_path;
  std::string text_path;
};
Result<InboxFiles> FindInInbox(const std::string& state_dir, const std::string& id,
                               std::optional<uint32_t> version = std::nullopt);

// What state.json holds.
struct TerminalState {
  uint64_t last_seq = 0;
  OperatorState state;
};
// Parses state.json text; Corruption naming `path` and the field that is
// wrong.
Result<TerminalState> ParseTerminalState(const std::string& text, const std::string& path);

// The operator state in state.json (pending and confirmed acknowledgements
// and ratings, the overdue report); empty when there is no state file yet.
Result<OperatorState> ReadOperatorState(const std::string& state_dir);

// Reads the stored directive `files` names; Corruption when it does not parse.
Result<v1::StoredDirective> ReadStored(const InboxFiles& files);

// True when `id` can name files in the inbox: non-empty, at most 200 bytes of
// ASCII letters, digits, '-', '_' and '.', not starting with '.'.
bool IsStorableId(std::string_view id);

}  // namespace flatcast::subscriber
