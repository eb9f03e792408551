// The Store implementation behind Store::open, private to state/.
#pragma once

#include <memory>
#include <optional>

#include "state/lock.h"
#include "state/sqlite.h"
#include "state/store.h"

namespace boxd::state {

// Wraps an opened, checked and migrated connection. lock is empty for read-only stores.
std::unique_ptr<Store> makeSqliteStore(std::optional<WriterLock> lock,
                                       std::unique_ptr<sql::Database> db);

}  // namespace boxd::state
