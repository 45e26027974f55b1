#include <errno.h>
#include <fcntl.h>
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
