/*
 * pc-token: prints test access tokens signed with a stack's secret.
 *
 *   pc-token SECRET [SUB] [TTL]    one token (SUB default: a random UUID)
 *   pc-token --many N SECRET       N tokens of N random users, one per line
 *   pc-token --many-with-ids N SECRET   the same as "<user id> <token>" lines
 *
 * For tests, benchmarks and the smoke test only; never part of the product.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

int main(int argc, char **argv)
{
	char sub[37];

	if (argc >= 4 && (strcmp(argv[1], "--many") == 0 || strcmp(argv[1], "--many-with-ids") == 0)) {
		long n = atol(argv[2]);
		for (long i = 0; i < n; i++) {
			token_uuid(sub);
			char *t = token_mint(argv[3], sub, 86400, NULL);
			if (argv[1][6] == '-')
				printf("%s %s\n", sub, t);
			else
				puts(t);
			free(t);
		}
		return 0;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: pc-token SECRET [SUB] [TTL] | pc-token --many N SECRET\n");
		return 2;
	}
	if (argc > 2)
		snprintf(sub, sizeof(sub), "%s", argv[2]);
	else
		token_uuid(sub);
	char *t = token_mint(argv[1], sub, argc > 3 ? atol(argv[3]) : 3600, NULL);
	puts(t);
	free(t);
	return 0;
}
