/*
 * The supervisor: a small process, forked by the network process before
 * it reads any secret or starts any thread, that keeps the privileges it
 * was started with. It starts a signer process with a fresh socketpair,
 * hands the network end to the network process over the control socket
 * (SCM_RIGHTS), and starts another signer whenever one dies, waiting a
 * little longer each time one dies young. It stops when the control
 * socket closes: the network process has stopped (or died).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "signer_int.h"

/* How long the supervisor waits for a signer to finish once the network
 * process has gone (it answers what it has, then sees its socket close). */
#define SIGNER_DRAIN_MS 10000

/* Send fd over the control socket with one byte of data. */
static bool send_fd(int control, int fd)
{
	char byte = SIGNER_CTL_SOCKET;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c;

	memset(&u, 0, sizeof(u));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	for (;;) {
		ssize_t n = sendmsg(control, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		return n == 1;
	}
}

/*
 * Receive one control message (signer.h), waiting at most timeout_ms (-1:
 * forever): SIGNER_CTL_SOCKET with *fd (close-on-exec), SIGNER_CTL_RELOAD,
 * or 0 on EOF, an error, a timeout or a malformed message.
 */
int signer_control_recv(int control_fd, int timeout_ms, int *fd)
{
	struct pollfd pfd = {.fd = control_fd, .events = POLLIN};
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c;
	ssize_t n;
	int pr;

	*fd = -1;
	while ((pr = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR)
		;
	if (pr <= 0)
		return 0;
	while ((n = recvmsg(control_fd, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n != 1 || (msg.msg_flags & MSG_CTRUNC))
		return 0;
	c = CMSG_FIRSTHDR(&msg);
	if (byte == SIGNER_CTL_RELOAD && c == NULL)
		return SIGNER_CTL_RELOAD;
	if (byte != SIGNER_CTL_SOCKET || c == NULL || c->cmsg_level != SOL_SOCKET ||
	    c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
		return 0;
	memcpy(fd, CMSG_DATA(c), sizeof(int));
	return SIGNER_CTL_SOCKET;
}

/* Ask the network process to reload. */
static void send_reload(int control)
{
	char byte = SIGNER_CTL_RELOAD;

	while (send(control, &byte, 1, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/* Die with the parent (PR_SET_PDEATHSIG), also when it is already gone. */
static void die_with_parent(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
}

/* Start a signer process; the network end of its socketpair goes over
 * control. The signer's pid, or -1. */
static pid_t spawn(const struct signer_child *child, int control, const sigset_t *old_mask)
{
	pid_t self = getpid(), pid;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		fc_log(LOG_CRIT, "signer: supervisor: socketpair: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) < 0) {
		fc_log(LOG_CRIT, "signer: supervisor: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		die_with_parent(self);
		/* Not dumpable: no process of the same user (the network process,
		 * when not started as root) may ptrace it or read its memory. */
		prctl(PR_SET_DUMPABLE, 0);
		sigprocmask(SIG_SETMASK, old_mask, NULL);
		close(control);
		close(sv[0]);
		prctl(PR_SET_NAME, "fulcrum-signer");
		exit(child->run(child->arg, sv[1]));
	}
	close(sv[1]);
	if (!send_fd(control, sv[0]))
		fc_log(LOG_ERR, "signer: supervisor: the network process does not take the socket");
	close(sv[0]);
	return pid;
}

/* Wait for pid up to ms, then kill it. */
static void reap(pid_t pid, int ms)
{
	for (int waited = 0; waited < ms; waited += 20) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void log_exit(pid_t pid, int status, int delay_ms)
{
	if (WIFSIGNALED(status))
		fc_log(LOG_ERR,
		       "signer: supervisor: the signer process %d was killed by signal %d; "
		       "starting another in %d ms",
		       (int)pid, WTERMSIG(status), delay_ms);
	else
		fc_log(LOG_ERR,
		       "signer: supervisor: the signer process %d exited with status %d; "
		       "starting another in %d ms",
		       (int)pid, WEXITSTATUS(status), delay_ms);
}

/* Poll the control socket and the SIGCHLD signalfd for up to ms (-1:
 * forever; SIGNER_POLL_MS at most when the child has a poll callback,
 * which is then called when due): false once the control socket is
 * closed. */
static bool wait_events(const struct signer_child *child, int control, int sfd, int ms,
			bool *child_exited)
{
	static int64_t next_poll;
	struct pollfd p[2] = {{.fd = control, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
	int64_t now = fc_mono_ms();

	*child_exited = false;
	if (child->poll != NULL) {
		if (next_poll == 0)
			next_poll = now + SIGNER_POLL_MS;
		if (now >= next_poll) {
			next_poll = now + SIGNER_POLL_MS;
			if (child->poll(child->arg))
				send_reload(control);
		}
		if (ms < 0 || ms > next_poll - now)
			ms = (int)(next_poll - now);
	}
	if (poll(p, 2, ms) < 0)
		return errno == EINTR;
	if (p[0].revents != 0) {
		char byte;
		if (recv(control, &byte, 1, MSG_DONTWAIT) <= 0)
			return false; /* the network process is gone (or stopped) */
	}
	if (p[1].revents & POLLIN) {
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			;
		*child_exited = true;
	}
	return true;
}

/* The supervisor's life: start signers until the control socket closes. */
static void supervise(const struct signer_child *child, int control)
{
	sigset_t chld, old;
	int sfd, delay = 0;
	pid_t pid = -1;
	int64_t started = 0;
	bool exited, alive = true;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	if ((sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		fc_log(LOG_CRIT, "signer: supervisor: signalfd: %s", strerror(errno));
		_exit(1);
	}
	while (alive) {
		int status;

		if (pid < 0) {
			pid = spawn(child, control, &old);
			started = fc_mono_ms();
		}
		alive = wait_events(child, control, sfd, pid < 0 ? 1000 : -1, &exited);
		if (!exited || pid < 0 || waitpid(pid, &status, WNOHANG) != pid)
			continue;
		delay = fc_mono_ms() - started < 10000
				? (delay == 0 ? SIGNER_RESTART_MIN_MS : delay * 2)
				: SIGNER_RESTART_MIN_MS;
		if (delay > SIGNER_RESTART_MAX_MS)
			delay = SIGNER_RESTART_MAX_MS;
		log_exit(pid, status, delay);
		pid = -1;
		for (int64_t until = fc_mono_ms() + delay; alive && fc_mono_ms() < until;)
			alive = wait_events(child, control, sfd, (int)(until - fc_mono_ms()),
					    &exited);
	}
	if (pid > 0)
		reap(pid, SIGNER_DRAIN_MS);
	close(sfd);
}

/*
 * Fork the supervisor (signer.h). In the caller: FC_OK with *out, else
 * FC_EINTERNAL. The supervisor itself never returns from here.
 */
enum fc_status signer_supervisor_start(const struct signer_child *child,
				       struct signer_supervisor *out, struct fc_err *err)
{
	pid_t parent = getpid(), pid;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return fc_err_set(err, FC_EINTERNAL, "signer: socketpair: %s", strerror(errno));
	if ((pid = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		return fc_err_set(err, FC_EINTERNAL, "signer: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		die_with_parent(parent);
		prctl(PR_SET_DUMPABLE, 0); /* it keeps the secrets a signer needs */
		close(sv[0]);
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		prctl(PR_SET_NAME, "fulcrum-superv");
		if (child->prepare != NULL)
			child->prepare(child->arg);
		supervise(child, sv[1]);
		close(sv[1]);
		exit(0);
	}
	close(sv[1]);
	out->pid = pid;
	out->control_fd = sv[0];
	return FC_OK;
}

/*
 * Close the control socket (the supervisor then stops its signer and
 * exits) and wait for the supervisor, at most timeout_ms before SIGKILL.
 */
void signer_supervisor_stop(struct signer_supervisor *s, int timeout_ms)
{
	if (s == NULL || s->pid <= 0)
		return;
	if (s->control_fd >= 0)
		close(s->control_fd);
	s->control_fd = -1;
	reap(s->pid, timeout_ms);
	s->pid = -1;
}
