// The database schema as an ordered list of forward migrations. PRAGMA user_version records how
// many have been applied; opening a database applies the missing ones, each in its own
// transaction together with the user_version bump, so a crash mid-migration leaves the previous
// version intact.
#pragma once

#include "common/result.h"
#include "state/sqlite.h"

namespace boxd::state {

// "boxd" in ASCII, stored in the header (PRAGMA application_id) to tell boxd's database apart
// from any other SQLite file.
inline constexpr int kApplicationId = 0x626f7864;

// The schema version this build writes (the number of migrations it knows).
int latestSchemaVersion();

// Applies the migrations after version `from` up to latestSchemaVersion().
Status migrate(sql::Database& db, int from);

}  // namespace boxd::state
