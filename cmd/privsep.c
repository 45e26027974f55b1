/*
 * What `fulcrum serve` and `fulcrum ctlog` share to split themselves in
 * two (signer/): starting the supervisor and taking its first signer,
 * keeping the secrets a signer needs in the supervisor only (on locked
 * pages), wiping them from the command line and the environment of every
 * process, and dropping privileges.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmd.h"
#include "hsm.h"
#include "signer.h"

/* How long the network process waits for its first signer process. */
#define CMD_SIGNER_START_MS 30000

/* A copy of s on pages of its own, locked in memory and left out of core
 * dumps (the supervisor keeps a passphrase or PIN it cannot read again).
 * NULL for NULL. Free with cmd_secret_free. */
char *cmd_secret_keep(const char *s)
{
	size_t len, size, page = (size_t)sysconf(_SC_PAGESIZE);
	char *p;

	if (s == NULL)
		return NULL;
	len = strlen(s);
	size = (len + 1 + sizeof(size_t) + page - 1) / page * page;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		abort();      /* out of memory: daemon policy */
	(void)mlock(p, size); /* best effort: RLIMIT_MEMLOCK may refuse */
#ifdef MADV_DONTDUMP
	(void)madvise(p, size, MADV_DONTDUMP);
#endif
	memcpy(p, &size, sizeof(size_t));
	memcpy(p + sizeof(size_t), s, len + 1);
	return p + sizeof(size_t);
}

/* Wipe and unmap what cmd_secret_keep made; NULL is fine. */
void cmd_secret_free(char *s)
{
	size_t size;
	char *base;

	if (s == NULL)
		return;
	base = s - sizeof(size_t);
	memcpy(&size, base, sizeof(size_t));
	fc_memzero(base, size);
	munlock(base, size);
	munmap(base, size);
}

/* Wipe the value of the environment variable name where it lies (what
 * /proc/PID/environ shows) and remove it from the environment. */
void cmd_wipe_env(const char *name)
{
	char *v = getenv(name);

	if (v != NULL) {
		fc_memzero(v, strlen(v));
		unsetenv(name);
	}
}

/* Overwrite, in place, the value of every pin-value attribute of a PKCS#11
 * URI held in argv (RFC 7512 2.3), so that the command line shows
 * "pin-value=****". NULL is fine. */
void cmd_wipe_uri_pin(char *uri)
{
	char *p = uri;

	while (p != NULL && (p = strstr(p, "pin-value=")) != NULL) {
		p += strlen("pin-value=");
		for (; *p != '\0' && *p != '&' && *p != ';'; p++)
			*p = '*';
	}
}

/* Where a network process started again finds its supervisor: "PID:FD". */
#define CMD_SUPERVISOR_ENV "FULCRUM_SIGNER_SUPERVISOR"

/* True in the image started again by reexec: *sup is the supervisor that
 * the image before made (its child, and a socketpair it made). */
static bool inherited(struct signer_supervisor *sup)
{
	char *v = getenv(CMD_SUPERVISOR_ENV), path[64], line[256];
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int pid = 0, fd = -1, ppid = 0;
	FILE *f;

	if (v == NULL)
		return false;
	if (sscanf(v, "%d:%d", &pid, &fd) != 2 || pid <= 0 || fd < 0)
		goto bad;
	unsetenv(CMD_SUPERVISOR_ENV);
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(line, sizeof(line), f) != NULL && strrchr(line, ')') != NULL)
			sscanf(strrchr(line, ')') + 2, "%*c %d", &ppid);
		fclose(f);
	}
	if (ppid != (int)getpid() || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
	    cred.pid != getpid())
		goto bad;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	sup->pid = pid;
	sup->control_fd = fd;
	return true;
bad:
	fc_log(LOG_CRIT, "signer: %s does not name this process's supervisor: ignored",
	       CMD_SUPERVISOR_ENV);
	return false;
}

/* Start this program again in this process, its command line and
 * environment wiped of secrets, keeping the supervisor's control socket
 * (its number in the environment). Returns only if execve failed. */
static void reexec(const struct signer_supervisor *sup)
{
	char v[64], exe[4096];
	ssize_t n;

	snprintf(v, sizeof(v), "%d:%d", (int)sup->pid, sup->control_fd);
	/* The program's own path (not /proc/self/exe) keeps its name in ps. */
	if (cmd_argv == NULL || (n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0 ||
	    setenv(CMD_SUPERVISOR_ENV, v, 1) != 0)
		return;
	exe[n] = '\0';
	fcntl(sup->control_fd, F_SETFD, 0);
	execv(exe, cmd_argv);
	fc_log(LOG_WARNING,
	       "signer: cannot start the network process again (%s): it goes on in "
	       "the image that read its command line",
	       strerror(errno));
	fcntl(sup->control_fd, F_SETFD, FD_CLOEXEC);
	unsetenv(CMD_SUPERVISOR_ENV);
}

/*
 * Fork the supervisor (child says what runs in it and in each signer),
 * wipe, start this program again (cmd.h), and take the first signer
 * process: FC_OK with ps filled, else the reason in err and nothing left
 * running.
 */
enum fc_status cmd_privsep_start(const struct signer_child *child, void (*wipe)(void *arg),
				 signer_attached_fn attached, void *arg, struct cmd_privsep *ps,
				 struct fc_err *err)
{
	enum fc_status st;

	memset(ps, 0, sizeof(*ps));
	ps->sup.pid = -1;
	ps->sup.control_fd = -1;
	if (!inherited(&ps->sup)) {
		if ((st = signer_supervisor_start(child, &ps->sup, err)) != FC_OK)
			return st;
		wipe(child->arg);
		reexec(&ps->sup);
	}
	wipe(child->arg);
	if ((st = signer_link_start(ps->sup.control_fd, CMD_SIGNER_START_MS, attached, arg,
				    &ps->link, err)) != FC_OK) {
		signer_supervisor_stop(&ps->sup, 5000);
		return st;
	}
	return FC_OK;
}

/* Close the link (the signer finishes and exits) and wait for the
 * supervisor. Every remote signer must have been freed. */
void cmd_privsep_stop(struct cmd_privsep *ps)
{
	signer_link_free(ps->link);
	ps->link = NULL;
	signer_supervisor_stop(&ps->sup, 15000);
}

/* Drop to user (looked up before the fork) if running as root; FC_OK or
 * the reason: the caller must then exit. */
enum fc_status cmd_privsep_drop(const struct signer_user *user, const char *who, struct fc_err *err)
{
	enum fc_status st;

	if (geteuid() != 0) {
		fc_log(LOG_DEBUG, "%s: not running as root: no privileges to drop", who);
		return FC_OK;
	}
	if ((st = signer_drop_privileges(user, err)) != FC_OK)
		return st;
	fc_log(LOG_NOTICE, "%s: the network process runs as %s (uid %u, gid %u)", who, user->name,
	       (unsigned)user->uid, (unsigned)user->gid);
	return FC_OK;
}

/* The /metrics lines of the signer process (ca_server_options.metrics_extra). */
void cmd_privsep_metrics(void *arg, struct fc_buf *b)
{
	struct cmd_privsep *ps = arg;
	char line[160];

	signer_link_stats(ps->link);
	fc_buf_append_str(b, "# HELP fulcrum_signer_refusals_total Messages the signer process "
			     "refused to sign, by reason\n"
			     "# TYPE fulcrum_signer_refusals_total counter\n");
	for (int r = 1; r < SIGNER_REFUSE_COUNT; r++) {
		snprintf(line, sizeof(line), "fulcrum_signer_refusals_total{reason=\"%s\"} %lu\n",
			 signer_refusal_name((enum signer_refusal)r),
			 signer_link_refusals(ps->link, (enum signer_refusal)r));
		fc_buf_append_str(b, line);
	}
	snprintf(line, sizeof(line),
		 "# HELP fulcrum_signer_restarts_total Signer processes started after the first\n"
		 "# TYPE fulcrum_signer_restarts_total counter\n"
		 "fulcrum_signer_restarts_total %lu\n",
		 signer_link_restarts(ps->link));
	fc_buf_append_str(b, line);
}
