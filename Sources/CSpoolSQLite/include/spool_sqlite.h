#ifndef SPOOL_SQLITE_H
#define SPOOL_SQLITE_H

#include <sqlite3.h>

/// `sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, on, &previous)`: sqlite3_db_config is variadic, which
/// Swift cannot call. With it on, closing the last connection leaves the write-ahead log as it is (no checkpoint,
/// no deletion of the -wal file). Returns SQLite's result code.
int lago_spool_set_no_checkpoint_on_close(sqlite3 *db, int on);

#endif
