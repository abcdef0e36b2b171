#include "spool_sqlite.h"

int lago_spool_set_no_checkpoint_on_close(sqlite3 *db, int on) {
    int previous = 0;
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, on, &previous);
}
