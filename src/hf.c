/*
 * hf: the Hugging Face text-generation API (Inference API and TGI).
 *
 * POST {HUGGINGFACE_URL}/models/{model} with {"inputs": prompt, "parameters":
 * {...}}; the reply is [{"generated_text": ..., "details": {...}}]. The chat
 * is rendered as an instruction prompt ("<s>[INST] ... [/INST]"). This API
 * does not stream: a streaming caller receives the answer as one piece.
 * The generated token count comes from "details"; the prompt count is not
 * reported by this API and stays 0.
 */
#include "llm_priv.h"
#include "config.h"
#include "models.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Mistral-style instruction prompt from a chat. Caller frees. */
static char *hf_prompt(const struct llm_message *msgs, int n)
{
	struct llm_reply acc = {0};
	const char *system = NULL;

	llm_reply_append(&acc, "<s>", 3);
	for (int i = 0; i < n; i++) {
		const char *c = msgs[i].content;
		if (strcmp(msgs[i].role, "system") == 0) {
			system = c;
		} else if (strcmp(msgs[i].role, "user") == 0) {
			llm_reply_append(&acc, "[INST] ", 7);
			if (system != NULL) {
				llm_reply_append(&acc, system, strlen(system));
				llm_reply_append(&acc, "\n\n", 2);
				system = NULL;
			}
			llm_reply_append(&acc, c, strlen(c));
			llm_reply_append(&acc, " [/INST]", 8);
		} else {
			llm_reply_append(&acc, " ", 1);
			llm_reply_append(&acc, c, strlen(c));
			llm_reply_append(&acc, "</s>", 4);
		}
	}
	return acc.text;
}

/* Ollama option names mapped to text-generation parameters. */
static void hf_parameters(const struct model *m, struct json_object *params)
{
	static const char *const map[][2] = {{"temperature", "temperature"},
					     {"top_p", "top_p"},
					     {"top_k", "top_k"},
					     {"repeat_penalty", "repetition_penalty"},
					     {"num_predict", "max_new_tokens"}};
	struct json_object *v;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (json_object_object_get_ex(m->options, map[i][0], &v))
			json_object_object_add(params, map[i][1], json_object_get(v));
	json_object_object_add(params, "return_full_text", json_object_new_boolean(0));
	json_object_object_add(params, "details", json_object_new_boolean(1));
}

int hf_chat(struct llm *llm, const struct config *cfg, const struct model *m,
	    const struct llm_message *msgs, int n, int timeout_ms, llm_token_fn on_token,
	    void *arg, struct llm_reply *out)
{
	struct json_object *req = NULL, *reply = NULL, *first, *text, *details, *v;
	char *prompt = NULL;
	const char *body = NULL;
	char url[1024];
	int rc = -1;

	if (cfg->huggingface_api_key == NULL)
		return llm_fail(out, LLM_UNAVAILABLE, "HUGGINGFACE_API_KEY is not set");
	snprintf(url, sizeof(url), "%s/models/%s", cfg->huggingface_url, m->tag);
	prompt = hf_prompt(msgs, n);
	req = json_object_new_object();
	struct json_object *params = json_object_new_object(), *opts = json_object_new_object();
	json_object_object_add(req, "inputs", json_object_new_string(prompt ? prompt : ""));
	hf_parameters(m, params);
	json_object_object_add(req, "parameters", params);
	json_object_object_add(opts, "wait_for_model", json_object_new_boolean(1));
	json_object_object_add(req, "options", opts);
	struct llm_http http = {
		.url = url,
		.body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
		.bearer = cfg->huggingface_api_key,
		.timeout_ms = timeout_ms,
	};
	if (llm_http(llm, &http, &body, out) < 0)
		goto out;
	reply = json_tokener_parse(body);
	first = json_object_is_type(reply, json_type_array) ? json_object_array_get_idx(reply, 0)
							    : NULL;
	if (first == NULL || !json_object_object_get_ex(first, "generated_text", &text) ||
	    !json_object_is_type(text, json_type_string)) {
		llm_fail(out, LLM_MALFORMED, "reply has no generated_text");
		goto out;
	}
	llm_reply_append(out, json_object_get_string(text), (size_t)json_object_get_string_len(text));
	if (json_object_object_get_ex(first, "details", &details) &&
	    json_object_object_get_ex(details, "generated_tokens", &v))
		out->completion_tokens = json_object_get_int(v);
	if (on_token != NULL && on_token(arg, out->text, strlen(out->text)) != 0) {
		llm_fail(out, LLM_ABORTED, "stopped by the caller");
		goto out;
	}
	rc = 0;
out:
	free(prompt);
	json_object_put(req);
	json_object_put(reply);
	return rc;
}
