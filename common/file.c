#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

/*
 * Read a whole regular file of at most max bytes into a NUL-terminated
 * buffer (caller frees *out). The size is checked before reading and again
 * while reading, so a growing file cannot exceed max.
 */
enum fc_status fc_read_file(const char *path, size_t max, char **out, size_t *outlen,
			    struct fc_err *err)
{
	struct fc_buf b;
	enum fc_status st = FC_EIO;
	char chunk[8192];
	struct stat sb;
	int fd;

	fc_buf_init(&b, max);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		st = errno == ENOENT ? FC_ENOTFOUND : FC_EIO;
		return fc_err_set(err, st, "%s: %s", path, strerror(errno));
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		fc_err_set(err, FC_EIO, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)sb.st_size > max) {
		st = fc_err_set(err, FC_ETOOBIG, "%s: larger than %zu bytes", path, max);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fc_err_set(err, FC_EIO, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (!fc_buf_append(&b, chunk, (size_t)n)) {
			st = fc_err_set(err, FC_ETOOBIG, "%s: larger than %zu bytes", path, max);
			goto out;
		}
	}
	*out = fc_buf_steal(&b, outlen);
	st = FC_OK;
out:
	close(fd);
	fc_buf_free(&b);
	return st;
}

/*
 * Read a small file that holds a secret (a key, a PIN, a config with a PIN)
 * into one buffer sized from fstat, so that no partial copy is left in
 * freed memory (fc_read_file grows its buffer). *out is NUL-terminated;
 * wipe it before freeing. *sb_out (if not NULL) receives the file's status.
 * Messages start with what and the path. FC_ENOTFOUND if absent, else
 * FC_ECONFIG.
 */
enum fc_status fc_read_secret_file(const char *path, size_t max, const char *what, char **out,
				   size_t *out_len, struct stat *sb_out, struct fc_err *err)
{
	struct stat sb;
	char *buf = NULL;
	size_t size = 0, got = 0;
	enum fc_status st = FC_ECONFIG;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return fc_err_set(err, errno == ENOENT ? FC_ENOTFOUND : FC_ECONFIG, "%s %s: %s",
				  what, path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		fc_err_set(err, FC_ECONFIG, "%s %s: not a regular file", what, path);
		goto out;
	}
	if (sb.st_size < 0 || (uint64_t)sb.st_size > max) {
		fc_err_set(err, FC_ECONFIG, "%s %s: larger than %zu bytes", what, path, max);
		goto out;
	}
	size = (size_t)sb.st_size;
	buf = fc_xmalloc(size + 1);
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fc_err_set(err, FC_ECONFIG, "%s %s: %s", what, path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break; /* shrank while reading: use what is there */
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	buf = NULL;
	*out_len = got;
	if (sb_out != NULL)
		*sb_out = sb;
	st = FC_OK;
out:
	if (buf != NULL) {
		fc_memzero(buf, size + 1);
		free(buf);
	}
	close(fd);
	return st;
}

/*
 * Write "<port>\n" to path through path.tmp and rename(2), so that a
 * reader never sees a partial file. A failure is logged, not returned: the
 * server runs on without it.
 */
void fc_write_port_file(const char *path, uint16_t port)
{
	char *tmp = fc_xasprintf("%s.tmp", path);
	FILE *f = fopen(tmp, "w");

	if (f == NULL || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 || rename(tmp, path) != 0)
		fc_log(LOG_WARNING, "cannot write port file %s", path);
	free(tmp);
}
