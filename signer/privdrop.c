/*
 * Dropping privileges in the network process once it has read what it
 * needs and bound its listeners: no supplementary groups, the user's gid
 * and uid (real, effective and saved), no new privileges through exec,
 * and a check that root cannot be had back.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "signer_int.h"

/*
 * Look up the user the network process becomes (signer.h). FC_OK with
 * *out, else FC_ECONFIG naming the user.
 */
enum fc_status signer_user_lookup(const char *name, struct signer_user *out, struct fc_err *err)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (name == NULL || *name == '\0' || strlen(name) >= sizeof(out->name))
		return fc_err_set(err, FC_ECONFIG, "--user: a user name is needed");
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
		return fc_err_set(err, FC_ECONFIG, "--user %s: no such user", name);
	if (pw.pw_uid == 0)
		return fc_err_set(err, FC_ECONFIG, "--user %s: that is root", name);
	out->uid = pw.pw_uid;
	out->gid = pw.pw_gid;
	snprintf(out->name, sizeof(out->name), "%s", name);
	return FC_OK;
}

/*
 * Become u if running as root (signer.h): setgroups(0), setresgid,
 * setresuid, PR_SET_NO_NEW_PRIVS, then check that uid 0 cannot be set
 * again and that no id is left at 0. FC_OK (also when not root: nothing to
 * drop), else FC_EINTERNAL with the step that failed.
 */
enum fc_status signer_drop_privileges(const struct signer_user *u, struct fc_err *err)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (geteuid() != 0)
		return FC_OK;
	if (setgroups(0, NULL) != 0)
		return fc_err_set(err, FC_EINTERNAL, "setgroups: %s", strerror(errno));
	if (setresgid(u->gid, u->gid, u->gid) != 0)
		return fc_err_set(err, FC_EINTERNAL, "setresgid(%u): %s", (unsigned)u->gid,
				  strerror(errno));
	if (setresuid(u->uid, u->uid, u->uid) != 0)
		return fc_err_set(err, FC_EINTERNAL, "setresuid(%u): %s", (unsigned)u->uid,
				  strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return fc_err_set(err, FC_EINTERNAL, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	/* The kernel clears it on the uid change; say so anyway: no other
	 * process of the user may ptrace this one or read its memory. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (setuid(0) == 0 || seteuid(0) == 0)
		return fc_err_set(err, FC_EINTERNAL, "root could be regained after the drop");
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || ru != u->uid ||
	    eu != u->uid || su != u->uid || rg != u->gid || eg != u->gid || sg != u->gid ||
	    getgroups(0, NULL) != 0)
		return fc_err_set(err, FC_EINTERNAL,
				  "the ids are not all the user's after the drop");
	return FC_OK;
}
