/*
 * tests/gateway/control_test.c — the operator command socket (gw/control.h): one line in, one line out,
 * served by the real loop; the client is gw_control_request in a forked child (it blocks, the loop must
 * not), the parent runs the loop until the child has its answer.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gw/control.h"
#include "gw/loop.h"
#include "gw_testutil.h"

static struct gw_loop *L;
static struct gw_control *C;
static int calls;

static int echo(void *arg, int argc, char **argv, char *reply, size_t cap)
{
	(void)arg;
	calls++;
	int n = snprintf(reply, cap, "%d words:", argc);
	for (int i = 0; i < argc && n > 0 && (size_t)n < cap; i++)
		n += snprintf(reply + n, cap - (size_t)n, " %s", argv[i]);
	return 0;
}

static int refuse(void *arg, int argc, char **argv, char *reply, size_t cap)
{
	(void)arg;
	(void)argc;
	(void)argv;
	snprintf(reply, cap, "not now");
	return -EBUSY;
}

static void setup(void)
{
	tu_mkdir();
	cr_assert_eq(gw_loop_new(&L), 0);
	cr_assert_eq(gw_control_open(&C, L, tu_path("ctl.sock")), 0);
	cr_assert_eq(gw_control_add(C, "echo", echo, NULL), 0);
	cr_assert_eq(gw_control_add(C, "refuse", refuse, NULL), 0);
	calls = 0;
}

static void teardown(void)
{
	gw_control_close(C);
	gw_loop_free(L);
	tu_rmdir();
}

TestSuite(gw_control, .init = setup, .fini = teardown, .timeout = 30);

/* Ask in a child; run the loop until it exits (deadline 5 s). Returns gw_control_request's result; the
 * reply line in out. */
static int ask(const char *line, char *out, size_t cap)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		int rc = gw_control_request(tu_path("ctl.sock"), line, p[1], 3000);
		_exit(rc == 0 ? 0 : rc == -EPROTO ? 1 : rc == -EINVAL ? 2 : 3);
	}
	close(p[1]);
	uint64_t end = gw_clock_mono_ms() + 5000;
	int st = 0;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (gw_clock_mono_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			cr_assert_fail("no answer within 5 s");
		}
		gw_loop_run_once(L, 10);
	}
	ssize_t n = read(p[0], out, cap - 1);
	close(p[0]);
	out[n > 0 ? n : 0] = 0;
	cr_assert(WIFEXITED(st));
	int code = WEXITSTATUS(st);
	return code == 0 ? 0 : code == 1 ? -EPROTO : code == 2 ? -EINVAL : -EIO;
}

Test(gw_control, one_line_in_one_line_out)
{
	char out[512];
	cr_assert_eq(ask("echo a bc", out, sizeof out), 0);
	cr_assert_str_eq(out, "ok 3 words: echo a bc\n");
	cr_assert_eq(ask("refuse", out, sizeof out), -EPROTO);
	cr_assert_str_eq(out, "error not now\n");
	cr_assert_eq(ask("reboot now", out, sizeof out), -EPROTO);
	cr_assert_str_eq(out, "error unknown command \"reboot\"\n");
	cr_assert_eq(ask("echo 1 2 3 4 5 6 7 8", out, sizeof out), -EPROTO, "9 words");
	cr_assert_str_eq(out, "error too many words\n");
	cr_assert_eq(ask("   ", out, sizeof out), -EPROTO);
	cr_assert_str_eq(out, "error empty request\n");
	cr_assert_eq(calls, 1);
	cr_assert_eq(ask("echo\nrefuse", out, sizeof out), -EINVAL, "one line only");
}

Test(gw_control, socket_is_mode_0600)
{
	struct stat sb;
	cr_assert_eq(stat(tu_path("ctl.sock"), &sb), 0);
	cr_assert(S_ISSOCK(sb.st_mode));
	cr_assert_eq(sb.st_mode & 0777, 0600);
}

Test(gw_control, overlong_line_is_refused_and_nothing_runs)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", tu_path("ctl.sock"));
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	char junk[GW_CONTROL_LINE_MAX + 50];
	memset(junk, 'e', sizeof junk);
	cr_assert_eq(send(fd, junk, sizeof junk, 0), (ssize_t)sizeof junk);
	char out[128] = "";
	size_t got = 0;
	uint64_t end = gw_clock_mono_ms() + 5000;
	while (gw_clock_mono_ms() < end) {
		gw_loop_run_once(L, 10);
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 0) == 1) {
			ssize_t n = recv(fd, out + got, sizeof out - 1 - got, 0);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
	}
	close(fd);
	out[got] = 0;
	cr_assert_str_eq(out, "error request line too long\n");
	cr_assert_eq(calls, 0);
}

Test(gw_control, no_daemon_is_an_error)
{
	char out[64];
	(void)out;
	cr_assert_eq(gw_control_request(tu_path("nobody.sock"), "echo", STDOUT_FILENO, 1000), -ENOENT);
}
