/*
 * fuzz_models: the model registry loader (models_load: MODELS_FILE, strict
 * JSON, every member type-checked, task routing resolved against the models)
 * and the lookups served from a loaded registry.
 *
 * Input: the file's content. It is written to a memfd and loaded through its
 * /proc/self/fd path, as the worker loads ops/models.json at start-up.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "models.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fd < 0) {
		fd = memfd_create("models.json", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();

	struct models *m = models_load(path, fuzz_devnull());
	if (m == NULL)
		return 0;
	int n = models_count(m);
	if (n < 1 || n > MODELS_MAX)
		abort();
	for (int i = 0; i < n; i++) {
		const struct model *x = models_at(m, i);
		if (x == NULL || x->name == NULL || models_find(m, x->name) != x || x->index != i)
			abort();
		if (x->provider >= PROVIDER__MAX || x->timeout_seconds <= 0)
			abort();
	}
	if (models_at(m, n) != NULL || models_find(m, "") != NULL)
		abort();
	const struct model *out[MODELS_MAX + 1];
	for (int i = 0; i < models_task_count(m); i++) {
		const char *t = models_task_name(m, i);
		int k = models_task(m, t, out, MODELS_MAX + 1);
		if (k < 0 || k > n)
			abort(); /* each model at most once */
		for (int j = 0; j < k; j++)
			for (int l = 0; l < j; l++)
				if (out[l] == out[j])
					abort();
	}
	if (models_task(m, "chat", out, MODELS_MAX + 1) < 1)
		abort(); /* a registry without chat routing is refused */
	models_free(m);
	return 0;
}
