/*
 * signer: privilege separation. A signer process alone holds the CA (or
 * log) key, the PKCS#11 module and its PIN; the network process reaches it
 * over a socketpair with small length-prefixed messages, and sees the key
 * as an ordinary struct hsm_signer (hsm/remote.c). The signer checks every
 * message it is asked to sign against what fulcrum signs (a certificate
 * fulcrum would issue, an SCT or checkpoint of our log), with its own
 * parser, and journals certificates (journal/) before and after signing.
 * A supervisor process, which keeps the privileges it was started with,
 * restarts a signer that dies and hands the network process the new
 * socket over a control socket.
 *
 *   network process (drops to --user)  <-- control socket --  supervisor
 *              ^                                                   |
 *              +------------- socketpair ------------- signer <----+ fork
 *
 * The wire format (all integers big-endian), one message:
 *   u16 type | u16 zero | u32 request id | u32 key id | u32 length | payload
 * with length <= SIGNER_MAX_PAYLOAD. The signer exits on any malformed
 * message (the supervisor starts a new one).
 */
#ifndef FULCRUM_SIGNER_H
#define FULCRUM_SIGNER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"
#include "hsm.h"

#define SIGNER_PROTO_VERSION 1
#define SIGNER_HDR_LEN 16
/* Hard limits, checked before anything is read or allocated. */
#define SIGNER_MAX_PAYLOAD (256 * 1024) /* any message (KEY_INFO carries a chain) */
#define SIGNER_MAX_MSG (64 * 1024)	/* what a SIGN asks to sign */
#define SIGNER_MAX_TEXT 1024		/* the reason text of REFUSED / FAILED */
#define SIGNER_MAX_CHAIN (128 * 1024)	/* the PEM chain of KEY_INFO */
/* A certificate's NotBefore, an SCT's and a checkpoint's timestamp must be
 * this close to the signer's clock (seconds behind, ahead). */
#define SIGNER_SKEW_PAST_S 10
#define SIGNER_SKEW_FUTURE_S 2
/* Keys loaded at once (the current one, and those requests in flight
 * still use after reloads). */
#define SIGNER_MAX_KEYS 16
/* A final certificate must follow its precertificate within this time. */
#define SIGNER_PRECERT_TTL_S 600
/* Serial numbers remembered per generation (two generations are kept: at
 * least this many of the latest serials are refused again, six hours of
 * issuance at about 6 certificates per second). 16 bytes each, touched
 * at start (4 MiB: the signer's resident memory is mostly these). */
#define SIGNER_SERIALS_PER_GEN (1u << 17)
/* How long the network side waits for an answer before it gives up on the
 * signer (FC_EUNAVAIL). */
#define SIGNER_CALL_TIMEOUT_MS 15000
/* What the supervisor waits before starting a signer again after one died:
 * doubling from the first to the last while it keeps dying young. */
#define SIGNER_RESTART_MIN_MS 200
#define SIGNER_RESTART_MAX_MS 5000

enum signer_msg_type {
	SIGNER_MSG_HELLO = 1,	     /* signer -> net, first, unsolicited: u32 version, u32 pid */
	SIGNER_MSG_KEY_LOAD = 2,     /* net -> signer: load the configured key as key_id */
	SIGNER_MSG_KEY_INFO = 3,     /* signer -> net: u8 padding, u32+SPKI, u32+PEM chain */
	SIGNER_MSG_KEY_RELEASE = 4,  /* net -> signer: key_id is no longer used (no answer) */
	SIGNER_MSG_SIGN = 5,	     /* net -> signer: u8 kind, u8+token id, u16+note, u32+msg */
	SIGNER_MSG_SIGNED = 6,	     /* signer -> net: u16+signature */
	SIGNER_MSG_REFUSED = 7,	     /* signer -> net: u16 reason, u16+text */
	SIGNER_MSG_FAILED = 8,	     /* signer -> net: u16 fc_status, u16+text */
	SIGNER_MSG_READY = 9,	     /* net -> signer: can key_id sign now? */
	SIGNER_MSG_READY_STATE = 10, /* signer -> net: u8 0 or 1 */
	SIGNER_MSG_STATS = 11,	     /* net -> signer: what have you refused? */
	SIGNER_MSG_STATS_STATE = 12, /* signer -> net: u16 n, n x u64 refusals by reason */
};

/* Why the signer refused to sign (the reason= label of
 * fulcrum_signer_refusals_total). Only grows. */
enum signer_refusal {
	SIGNER_OK = 0,
	SIGNER_REFUSE_KIND,	     /* not something this signer signs */
	SIGNER_REFUSE_DER,	     /* not a well-formed TBSCertificate */
	SIGNER_REFUSE_VERSION,	     /* not v3 */
	SIGNER_REFUSE_SERIAL,	     /* not 9 to 20 octets, or not positive */
	SIGNER_REFUSE_SERIAL_REUSED, /* a serial already signed in this run */
	SIGNER_REFUSE_SIG_ALG,	     /* not the key's signature algorithm */
	SIGNER_REFUSE_ISSUER,	     /* not the issuing CA's name */
	SIGNER_REFUSE_VALIDITY,	     /* longer than the lifetime, or reversed */
	SIGNER_REFUSE_NOT_BEFORE,    /* NotBefore not near now */
	SIGNER_REFUSE_SUBJECT,	     /* not empty */
	SIGNER_REFUSE_PUBLIC_KEY,    /* a key type or size fulcrum does not accept */
	SIGNER_REFUSE_EXTENSION,     /* unknown, duplicate or missing extension */
	SIGNER_REFUSE_CRITICAL,	     /* wrong criticality */
	SIGNER_REFUSE_CA,	     /* BasicConstraints (CA:TRUE) */
	SIGNER_REFUSE_KEY_USAGE,     /* KeyUsage other than digitalSignature */
	SIGNER_REFUSE_EXT_KEY_USAGE, /* ExtKeyUsage other than codeSigning */
	SIGNER_REFUSE_SAN,	     /* not exactly one email, URI or username */
	SIGNER_REFUSE_AKI,	     /* not the issuing CA's key id */
	SIGNER_REFUSE_SKI,	     /* not the subject key's id */
	SIGNER_REFUSE_SIGSTORE_EXT,  /* a Sigstore extension badly encoded */
	SIGNER_REFUSE_CT,	     /* poison / SCT list against kind and mode, or a final
				      * certificate that is not its precertificate */
	SIGNER_REFUSE_SCT_LIST,	     /* a malformed SCT list */
	SIGNER_REFUSE_TOKEN_ID,	     /* a certificate without a printable token id */
	SIGNER_REFUSE_SCT,	     /* malformed SCT signed data */
	SIGNER_REFUSE_CHECKPOINT,    /* a checkpoint that is not ours or malformed */
	SIGNER_REFUSE_TIMESTAMP,     /* an SCT or checkpoint timestamp not near now */
	SIGNER_REFUSE_COUNT
};
/* The metric label of r ("serial_reused", ...). */
const char *signer_refusal_name(enum signer_refusal r);

/* --- the signer process (server.c) ----------------------------------------------- */

enum signer_role {
	SIGNER_ROLE_CA = 1,  /* fulcrum serve: leaf certificates and precertificates */
	SIGNER_ROLE_LOG = 2, /* fulcrum ctlog: SCTs and checkpoints */
};

/* What a signer process loads on KEY_LOAD: the key and, for a CA, its
 * chain (PEM, issuing CA first) whose first certificate it checks against. */
struct signer_key {
	struct hsm_signer *signer;
	char *chain_pem;
};
/* Load the configured key (and chain): cmd/ does it (key file, PKCS#11
 * token, ephemeral key and root). FC_OK with out filled, else the reason
 * (never a secret) in err, which goes back to the network process. */
typedef enum fc_status (*signer_load_fn)(void *arg, struct signer_key *out, struct fc_err *err);

struct signer_config {
	enum signer_role role;
	signer_load_fn load;
	void *load_arg;
	const char *journal_dir; /* CA: the issuance journal (opened at the first KEY_LOAD) */
	int lifetime_s;		 /* CA: the certificate lifetime (NotAfter - NotBefore) */
	bool ct;		 /* CA: certificates go through a CT log */
	const char *origin;	 /* LOG: the checkpoint origin */
	unsigned threads;	 /* signing threads (0 = number of CPUs, at least 2) */
};

/*
 * The signer process's work: say HELLO on fd, then answer requests until
 * fd closes (the network process is gone). Returns the process exit
 * status: 0 after EOF, SIGNER_EXIT_PROTOCOL after a malformed message,
 * SIGNER_EXIT_JOURNAL when the journal failed.
 */
#define SIGNER_EXIT_PROTOCOL 3
#define SIGNER_EXIT_JOURNAL 4
int signer_serve(int fd, const struct signer_config *cfg);

/* --- the supervisor (supervise.c) --------------------------------------------------- */

/*
 * What the supervisor runs: prepare once in the supervisor right after the
 * fork (take the secrets it must keep, wipe the rest), then for each
 * signer process run (in the new process, with its end of the socketpair),
 * whose return value is the exit status.
 */
struct signer_child {
	void (*prepare)(void *arg);
	int (*run)(void *arg, int fd);
	/* Called by the supervisor every SIGNER_POLL_MS (NULL: never): true
	 * asks the network process to reload (a key file changed). */
	bool (*poll)(void *arg);
	void *arg;
};
#define SIGNER_POLL_MS 2000

/* The network side's view of the supervisor. */
struct signer_supervisor {
	pid_t pid;
	int control_fd; /* receives each new signer socket (SCM_RIGHTS) */
};

/*
 * Fork the supervisor (before any secret is read or any thread started):
 * it runs child->prepare, then starts a signer process, passes the
 * network end of its socketpair over the control socket, and starts
 * another whenever one dies, until the control socket closes. The
 * supervisor and the signers die with the process that made them
 * (PR_SET_PDEATHSIG) and ignore SIGINT, SIGTERM and SIGHUP (they stop when
 * the network process has stopped). FC_OK with *out in the caller, else
 * FC_EINTERNAL with the reason; never returns in the supervisor.
 */
enum fc_status signer_supervisor_start(const struct signer_child *child,
				       struct signer_supervisor *out, struct fc_err *err);
/* Close the control socket and wait (up to timeout_ms, then SIGKILL) for
 * the supervisor to exit. */
void signer_supervisor_stop(struct signer_supervisor *s, int timeout_ms);
/* Receive one message over a control socket, waiting at most timeout_ms
 * (-1: as long as it takes): SIGNER_CTL_SOCKET with *fd (a new signer's
 * socket), SIGNER_CTL_RELOAD, or 0 on EOF, error or timeout. */
#define SIGNER_CTL_SOCKET 'S'
#define SIGNER_CTL_RELOAD 'R'
int signer_control_recv(int control_fd, int timeout_ms, int *fd);

/* --- the network side (client.c) ------------------------------------------------ */

struct signer_link;

/* What the link's control thread reports. */
enum signer_event {
	/* A new signer process took over and the keys in use were loaded
	 * again: those that are the same keys are usable again
	 * (signer_link_key_live), the others are not. */
	SIGNER_EVENT_ATTACHED = 1,
	/* The supervisor saw a key file change: load the key again. */
	SIGNER_EVENT_RELOAD = 2,
};
typedef void (*signer_attached_fn)(void *arg, struct signer_link *l, enum signer_event ev);

/*
 * Take the control socket of a supervisor: wait up to timeout_ms for the
 * first signer socket and its HELLO, then watch the control socket for
 * signers that replace it. FC_OK with *out (free with signer_link_free),
 * else FC_EUNAVAIL / FC_EIO with the reason in err.
 */
enum fc_status signer_link_start(int control_fd, int timeout_ms, signer_attached_fn attached,
				 void *arg, struct signer_link **out, struct fc_err *err);
/* Close the signer socket (the signer then exits) and the control socket,
 * join the threads, free. NULL is fine. */
void signer_link_free(struct signer_link *l);

/* A key loaded in the signer process: a remote hsm_signer and, for a CA,
 * the chain the signer read with it. */
struct signer_loaded {
	uint32_t key_id;
	struct hsm_signer *signer; /* hsm_signer_free releases the key in the signer */
	char *chain_pem;	   /* NULL for a log key; caller frees */
};

/*
 * Ask the signer to load the configured key (and chain) as a new key id.
 * FC_OK with *out, else the signer's reason (FC_ECONFIG, FC_EUNAVAIL...)
 * in err.
 */
enum fc_status signer_link_load(struct signer_link *l, struct signer_loaded *out,
				struct fc_err *err);
/* True while key_id can be used (loaded in the current signer process). */
bool signer_link_key_live(struct signer_link *l, uint32_t key_id);
/* Ask the signer process how many messages it refused, by reason (it
 * counts them, whoever sent them); signer_link_refusals then adds them to
 * what earlier signer processes reported. */
void signer_link_stats(struct signer_link *l);
/* Refusals the signer processes reported, by reason (for /metrics). */
unsigned long signer_link_refusals(struct signer_link *l, enum signer_refusal r);
/* Signers started since the first one. */
unsigned long signer_link_restarts(struct signer_link *l);

/* --- privileges (privdrop.c) ----------------------------------------------------------- */

/* The default --user. */
#define SIGNER_DEFAULT_USER "nobody"

struct signer_user {
	uid_t uid;
	gid_t gid;
	char name[64];
};
/* Look the user up (before any fork); FC_ECONFIG if there is none. */
enum fc_status signer_user_lookup(const char *name, struct signer_user *out, struct fc_err *err);
/*
 * If running as root: drop every group, setresgid and setresuid to u, set
 * PR_SET_NO_NEW_PRIVS, and check that root cannot be regained. FC_OK
 * (nothing done when not root), else FC_EINTERNAL: the caller must exit.
 */
enum fc_status signer_drop_privileges(const struct signer_user *u, struct fc_err *err);

#endif /* FULCRUM_SIGNER_H */
