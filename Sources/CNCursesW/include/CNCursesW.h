// The only C that touches ncurses: accessors Swift 6 cannot import directly, plus terminal restoration.
#ifndef CNCURSESW_H
#define CNCURSESW_H

#define NCURSES_WIDECHAR 1
#include <ncurses.h>
#include <wchar.h>

/// The standard screen of the current terminal.
WINDOW *lc_stdscr(void);
/// Terminal rows and columns as curses last measured them.
int lc_lines(void);
int lc_cols(void);
/// Attribute bits.
attr_t lc_a_bold(void);
attr_t lc_a_dim(void);
attr_t lc_a_reverse(void);
attr_t lc_a_underline(void);
attr_t lc_a_normal(void);
/// `COLOR_PAIR(n)`.
attr_t lc_color_pair(short n);
/// Number of colours the terminal supports (`COLORS`).
int lc_colors(void);
/// `KEY_RESIZE`, `KEY_CODE_YES`, `ERR` and `OK`.
int lc_key_resize(void);
int lc_key_code_yes(void);
int lc_err(void);

/// Opens the terminal on stdin/stdout with `newterm` (never exits the process like `initscr`).
/// Returns 0 on success, -1 when the terminal type is unknown or not set.
int lc_open_terminal(void);
/// Restores the terminal: `endwin`, then the termios saved before `lc_open_terminal`.
void lc_restore_terminal(void);
/// Installs handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGTERM, SIGHUP, SIGQUIT and SIGINT
/// that restore the terminal and re-raise the signal with its default action, so neither a crash nor a kill leaves
/// the terminal broken.
void lc_install_crash_handlers(void);

/// `get_wch` on the standard screen; returns the curses status and stores the key in `*out`.
int lc_get_wch(wint_t *out);
/// 1 when standard input has hung up (the terminal went away), else 0.
int lc_input_hung_up(void);
/* Opens the wake-up pipe of the curses thread (idempotent); 0 on success. */
int lc_wake_open(void);
/* Wakes the curses thread from lc_wait_input (any thread; async-signal-safe). */
void lc_wake(void);
/* Waits up to timeout_ms for terminal input (bit 1) or a wake-up (bit 2, consumed); 0 on timeout. */
int lc_wait_input(int timeout_ms);
/// Writes one grapheme (UTF-8) with attributes and colour pair at (y, x).
int lc_put_utf8(int y, int x, const char *utf8, attr_t attributes, short pair);
/// `wcwidth` compiled with `_XOPEN_SOURCE 700`.
int lc_wcwidth(wchar_t c);

#endif
