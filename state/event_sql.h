// The statements that keep the events table bounded, apart so tests can check their query plans:
// none may scan the whole table, since one runs at every appended event and the others at every
// resync.
#pragma once

namespace boxd::state::event_sql {

// After each insert: the pod's (?1) events beyond the newest ?2 go. Walks the (pod, id) index.
inline constexpr const char* kTrimPod =
    "DELETE FROM events WHERE pod = ?1 AND id <= (SELECT id FROM events WHERE pod = ?1"
    " ORDER BY id DESC LIMIT 1 OFFSET ?2)";
// A deleted pod is remembered with its deletion time (a pod of that name created again keeps
// its past events; the tombstone goes at the next prune).
inline constexpr const char* kTombstone =
    "INSERT INTO deleted_pods (pod, deleted_at_ms) VALUES (?1, ?2)"
    " ON CONFLICT (pod) DO UPDATE SET deleted_at_ms = excluded.deleted_at_ms";
// The events of pods deleted at or before ?1 and not created again, by the (pod, id) index.
inline constexpr const char* kDropDeleted =
    "DELETE FROM events WHERE pod IN (SELECT pod FROM deleted_pods WHERE deleted_at_ms <= ?1"
    " AND pod NOT IN (SELECT name FROM pods))";
inline constexpr const char* kDropTombstones =
    "DELETE FROM deleted_pods WHERE deleted_at_ms <= ?1 OR pod IN (SELECT name FROM pods)";
// The events older than the newest ?1 ids (ids only grow, AUTOINCREMENT): at most ?1 rows are
// left, fewer where pruning left gaps. max(id) and the range are rowid look-ups.
inline constexpr const char* kCap =
    "DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?1";

}  // namespace boxd::state::event_sql
