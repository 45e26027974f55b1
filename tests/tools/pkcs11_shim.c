/*
 * A fault-injecting PKCS#11 module for tests: it loads the real module named
 * by FULCRUM_SHIM_MODULE (e.g. SoftHSM2), forwards every call to it, and
 * fails on command. The command is the content of the file named by
 * FULCRUM_SHIM_CONTROL, read again whenever the file changes:
 *
 *   FAULT once | FAULT N      the next (N) C_Sign calls fail with FAULT
 *   FAULT until cleared       every C_Sign, C_SignInit, C_OpenSession,
 *                             C_Login and C_FindObjectsInit fails with
 *                             FAULT, and C_GetSlotList shows no token, until
 *                             the file is emptied
 *   (empty, or absent)        no fault
 *
 * FAULT is one of session-invalid, session-closed, device-removed,
 * token-not-present, not-logged-in, device-error, device-memory,
 * general-error, function-failed (the last is not a fault fulcrum retries).
 * Each injected failure is counted in FULCRUM_SHIM_CONTROL.count (one
 * line per failure), so tests can see that a fault really happened.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST real_copy;
static CK_FUNCTION_LIST_PTR real;
static CK_FUNCTION_LIST shim;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The command in force. */
static struct timespec ctl_mtime;
static ino_t ctl_ino;
static off_t ctl_size = -1;
static CK_RV fault_rv;
static long fault_left; /* > 0: that many C_Sign failures; -1: until cleared */

static const struct {
	const char *name;
	CK_RV rv;
} faults[] = {
	{"session-invalid", CKR_SESSION_HANDLE_INVALID},
	{"session-closed", CKR_SESSION_CLOSED},
	{"device-removed", CKR_DEVICE_REMOVED},
	{"token-not-present", CKR_TOKEN_NOT_PRESENT},
	{"not-logged-in", CKR_USER_NOT_LOGGED_IN},
	{"device-error", CKR_DEVICE_ERROR},
	{"device-memory", CKR_DEVICE_MEMORY},
	{"general-error", CKR_GENERAL_ERROR},
	{"function-failed", CKR_FUNCTION_FAILED},
};

/* Re-read the control file if it changed (lock held). */
static void control_refresh_locked(void)
{
	const char *path = getenv("FULCRUM_SHIM_CONTROL");
	struct stat sb;
	char buf[128] = "", name[64] = "", mode[64] = "";
	FILE *f;

	if (path == NULL || stat(path, &sb) != 0) {
		fault_left = 0;
		ctl_size = -1;
		return;
	}
	if (sb.st_mtim.tv_sec == ctl_mtime.tv_sec && sb.st_mtim.tv_nsec == ctl_mtime.tv_nsec &&
	    sb.st_ino == ctl_ino && sb.st_size == ctl_size)
		return;
	ctl_mtime = sb.st_mtim;
	ctl_ino = sb.st_ino;
	ctl_size = sb.st_size;
	fault_left = 0;
	if ((f = fopen(path, "r")) == NULL)
		return;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	if (sscanf(buf, "%63s %63[^\n]", name, mode) < 1)
		return;
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		if (strcmp(name, faults[i].name) != 0)
			continue;
		fault_rv = faults[i].rv;
		if (strcmp(mode, "until cleared") == 0)
			fault_left = -1;
		else if (strcmp(mode, "once") == 0 || mode[0] == '\0')
			fault_left = 1;
		else
			fault_left = strtol(mode, NULL, 10);
	}
}

static void count_fault(const char *fn)
{
	const char *path = getenv("FULCRUM_SHIM_CONTROL");
	char cpath[4096];
	FILE *f;

	if (path == NULL || snprintf(cpath, sizeof(cpath), "%s.count", path) >= (int)sizeof(cpath))
		return;
	if ((f = fopen(cpath, "a")) != NULL) {
		fprintf(f, "%s\n", fn);
		fclose(f);
	}
}

/* The failure to inject into fn now, or CKR_OK. sign: fn is C_Sign. */
static CK_RV inject(const char *fn, bool sign)
{
	CK_RV rv = CKR_OK;

	pthread_mutex_lock(&lock);
	control_refresh_locked();
	if (fault_left == -1) {
		rv = fault_rv;
	} else if (fault_left > 0 && sign) {
		fault_left--;
		rv = fault_rv;
	}
	pthread_mutex_unlock(&lock);
	if (rv != CKR_OK)
		count_fault(fn);
	return rv;
}

static bool removed(void)
{
	bool r;

	pthread_mutex_lock(&lock);
	control_refresh_locked();
	r = fault_left == -1;
	pthread_mutex_unlock(&lock);
	return r;
}

static CK_RV shim_sign(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR sig,
		       CK_ULONG_PTR sl)
{
	CK_RV rv = inject("C_Sign", true);

	if (rv != CKR_OK) {
		/* end the operation the real module has open */
		CK_BYTE tmp[1024];
		CK_ULONG tl = sizeof(tmp);
		real->C_Sign(s, d, dl, tmp, &tl);
		return rv;
	}
	return real->C_Sign(s, d, dl, sig, sl);
}

static CK_RV shim_sign_init(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	CK_RV rv = inject("C_SignInit", false);
	return rv != CKR_OK ? rv : real->C_SignInit(s, m, k);
}

static CK_RV shim_open_session(CK_SLOT_ID slot, CK_FLAGS fl, CK_VOID_PTR app, CK_NOTIFY n,
			       CK_SESSION_HANDLE_PTR s)
{
	CK_RV rv = inject("C_OpenSession", false);
	return rv != CKR_OK ? rv : real->C_OpenSession(slot, fl, app, n, s);
}

static CK_RV shim_login(CK_SESSION_HANDLE s, CK_USER_TYPE u, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	CK_RV rv = inject("C_Login", false);
	return rv != CKR_OK ? rv : real->C_Login(s, u, pin, len);
}

static CK_RV shim_find_init(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	CK_RV rv = inject("C_FindObjectsInit", false);
	return rv != CKR_OK ? rv : real->C_FindObjectsInit(s, t, n);
}

static CK_RV shim_get_slot_list(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR n)
{
	if (present && removed()) {
		*n = 0; /* the token is gone */
		return CKR_OK;
	}
	return real->C_GetSlotList(present, list, n);
}

static CK_RV shim_get_function_list(CK_FUNCTION_LIST_PTR_PTR out);

/* Load the real module and build the table: every entry is the real
 * module's function except the few wrapped above. */
static CK_RV load_real(void)
{
	const char *path = getenv("FULCRUM_SHIM_MODULE");
	CK_C_GetFunctionList getfl;
	CK_FUNCTION_LIST_PTR fl = NULL;
	void *dl;
	CK_RV rv;

	if (real != NULL)
		return CKR_OK;
	if (path == NULL || (dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return CKR_GENERAL_ERROR;
	*(void **)&getfl = dlsym(dl, "C_GetFunctionList");
	if (getfl == NULL || (rv = getfl(&fl)) != CKR_OK || fl == NULL)
		return CKR_GENERAL_ERROR;
	real_copy = *fl;
	real = &real_copy;
	shim = *fl;
	shim.C_GetFunctionList = shim_get_function_list;
	shim.C_Sign = shim_sign;
	shim.C_SignInit = shim_sign_init;
	shim.C_OpenSession = shim_open_session;
	shim.C_Login = shim_login;
	shim.C_FindObjectsInit = shim_find_init;
	shim.C_GetSlotList = shim_get_slot_list;
	return CKR_OK;
}

static CK_RV shim_get_function_list(CK_FUNCTION_LIST_PTR_PTR out)
{
	CK_RV rv;

	pthread_mutex_lock(&lock);
	rv = load_real();
	pthread_mutex_unlock(&lock);
	if (rv == CKR_OK)
		*out = &shim;
	return rv;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	return shim_get_function_list(out);
}
