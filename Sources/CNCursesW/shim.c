#include "CNCursesW.h"

#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <fcntl.h>
#include <unistd.h>

static struct termios saved_termios;
static volatile sig_atomic_t termios_saved = 0;
static volatile sig_atomic_t curses_active = 0;
static SCREEN *screen = NULL;

WINDOW *lc_stdscr(void) { return stdscr; }
int lc_lines(void) { return LINES; }
int lc_cols(void) { return COLS; }
attr_t lc_a_bold(void) { return A_BOLD; }
attr_t lc_a_dim(void) { return A_DIM; }
attr_t lc_a_reverse(void) { return A_REVERSE; }
attr_t lc_a_underline(void) { return A_UNDERLINE; }
attr_t lc_a_normal(void) { return A_NORMAL; }
attr_t lc_color_pair(short n) { return COLOR_PAIR(n); }
int lc_colors(void) { return COLORS; }
int lc_key_resize(void) { return KEY_RESIZE; }
int lc_key_code_yes(void) { return KEY_CODE_YES; }
int lc_err(void) { return ERR; }

int lc_open_terminal(void) {
    setlocale(LC_ALL, "");
    const char *term = getenv("TERM");
    if (term == NULL || term[0] == '\0') return -1;
    if (tcgetattr(STDIN_FILENO, &saved_termios) == 0) termios_saved = 1;
    screen = newterm(NULL, stdout, stdin);
    if (screen == NULL) return -1;
    set_term(screen);
    /* No typeahead check: doupdate would stop half-way when a key is pending and leave the rest of the frame
       undrawn until the next change; the curses thread reads that key right after drawing anyway. */
    typeahead(-1);
    curses_active = 1;
    return 0;
}

void lc_restore_terminal(void) {
    if (curses_active) {
        curses_active = 0;
        endwin();
    }
    if (termios_saved) tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
}

static void crash_handler(int sig) {
    lc_restore_terminal();
    signal(sig, SIG_DFL);
    raise(sig);
}

void lc_install_crash_handlers(void) {
    // Crashes, and the termination signals (SIGTERM, SIGHUP when the terminal goes away, SIGQUIT, SIGINT sent by
    // kill: in raw mode Ctrl-C arrives as a key instead). The spool is durable, so dying at once loses nothing.
    int signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGTERM, SIGHUP, SIGQUIT, SIGINT};
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
        struct sigaction action;
        memset(&action, 0, sizeof(action));
        action.sa_handler = crash_handler;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_RESETHAND;
        sigaction(signals[i], &action, NULL);
    }
}

int lc_get_wch(wint_t *out) { return wget_wch(stdscr, out); }

int lc_input_hung_up(void) {
    struct pollfd descriptor = {.fd = STDIN_FILENO, .events = POLLIN, .revents = 0};
    if (poll(&descriptor, 1, 0) < 0) return 0;
    return (descriptor.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
}

int lc_put_utf8(int y, int x, const char *utf8, attr_t attributes, short pair) {
    wchar_t wide[8];
    size_t count = mbstowcs(wide, utf8, 7);
    if (count == (size_t)-1 || count == 0) {
        wide[0] = L'?';
        count = 1;
    }
    wide[count] = L'\0';
    cchar_t cell;
    if (setcchar(&cell, wide, attributes, pair, NULL) != OK) return ERR;
    return mvwadd_wch(stdscr, y, x, &cell);
}

int lc_wcwidth(wchar_t c) { return wcwidth(c); }

/* The curses thread sleeps in poll(2) on the terminal and on a wake-up pipe, so a frame handed over by another
   thread is drawn at once and a key is read as soon as it arrives, without polling on a timer. */
static int wake_pipe[2] = {-1, -1};

int lc_wake_open(void) {
    if (wake_pipe[0] >= 0) return 0;
    if (pipe(wake_pipe) != 0) return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(wake_pipe[i], F_SETFL, fcntl(wake_pipe[i], F_GETFL) | O_NONBLOCK);
        fcntl(wake_pipe[i], F_SETFD, FD_CLOEXEC);
    }
    return 0;
}

void lc_wake(void) {
    if (wake_pipe[1] < 0) return;
    char byte = 1;
    /* A full pipe already holds a wake-up: nothing is lost. */
    ssize_t ignored = write(wake_pipe[1], &byte, 1);
    (void)ignored;
}

int lc_wait_input(int timeout_ms) {
    struct pollfd descriptors[2] = {
        {.fd = STDIN_FILENO, .events = POLLIN, .revents = 0},
        {.fd = wake_pipe[0], .events = POLLIN, .revents = 0},
    };
    int count = wake_pipe[0] >= 0 ? 2 : 1;
    int ready = poll(descriptors, count, timeout_ms);
    if (ready <= 0) return 0;
    int result = 0;
    if (descriptors[0].revents != 0) result |= 1;
    if (count == 2 && descriptors[1].revents != 0) {
        char buffer[64];
        while (read(wake_pipe[0], buffer, sizeof buffer) > 0) {}
        result |= 2;
    }
    return result;
}
