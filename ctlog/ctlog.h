/*
 * ctlog: Certificate Transparency. The client the CA uses to log
 * precertificates and verify SCTs (RFC 6962), and the log server behind
 * `fulcrum ctlog` (Static CT API, c2sp.org/static-ct-api).
 */
#ifndef FULCRUM_CTLOG_H
#define FULCRUM_CTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "hsm.h"

/* ===== SCT structures and the client (owned by the CT-client work) ===== */

/* ===== the log server (owned by the log-server work) ===== */

#endif /* FULCRUM_CTLOG_H */
