/*
 * models: the model registry (MODELS_FILE, ops/models.json), loaded and
 * validated once at start-up.
 *
 * Each model has a logical name, a provider (ollama or huggingface), the
 * provider's model tag, generation options (temperature, top_p, top_k,
 * repeat_penalty, num_ctx, num_predict; all of them are sent to the
 * provider), capabilities and a per-call timeout. Each task type has an
 * ordered priority list and a fallback; a task's candidates are that list
 * with the fallback appended, each model once.
 */
#ifndef PIXELCRAFT_MODELS_H
#define PIXELCRAFT_MODELS_H

#include <stdio.h>

struct json_object;
struct models;

enum provider { PROVIDER_OLLAMA, PROVIDER_HUGGINGFACE, PROVIDER__MAX };

extern const char *const provider_names[PROVIDER__MAX];

#define MODELS_MAX 32

struct model {
	char *name;                       /* logical name ("mistral") */
	enum provider provider;
	char *tag;                        /* provider's name ("mistral:7b") */
	struct json_object *options;      /* validated generation options */
	struct json_object *capabilities; /* {"chat": true, ...} */
	int timeout_seconds;              /* per call */
	int context_window;               /* options.num_ctx, else 2048 */
	int index;                        /* position in the registry */
};

/*
 * Loads and validates the registry at path. Returns the registry, or NULL
 * after printing one line per problem to err ("models.glm4.options.top_p:
 * expected a number from 0 to 1, got \"x\"").
 */
struct models *models_load(const char *path, FILE *err);

/* Frees the registry; accepts NULL. */
void models_free(struct models *m);

/* Number of models, and the i-th in file order (borrowed). */
int models_count(const struct models *m);
const struct model *models_at(const struct models *m, int i);

/* A model by logical name, or NULL (borrowed). */
const struct model *models_find(const struct models *m, const char *name);

/*
 * The candidates of a task in order (priority list, then fallback, each
 * model once) into out. Returns their number, or -1 for an unknown task.
 */
int models_task(const struct models *m, const char *task, const struct model **out, int max);

/* Number of task types, and the name of the i-th (borrowed). */
int models_task_count(const struct models *m);
const char *models_task_name(const struct models *m, int i);

#endif
