/*
 * hello: the smallest useful FastCGI responder (fcgiapp.h, one FCGX_Request,
 * a fixed JSON answer). scripts/bench.sh starts it exactly like the worker
 * pool (spawn-fcgi + multiwatch, same worker count and environment) as the
 * baseline "H" every figure is compared with.
 */
#include <fcgiapp.h>
#include <string.h>

int main(void)
{
	static const char answer[] = "Status: 200 OK\r\n"
				     "Content-Type: application/json\r\n"
				     "Content-Length: 18\r\n\r\n"
				     "{\"status\":\"alive\"}";
	FCGX_Request req;
	char drain[4096];

	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&req) >= 0) {
		while (FCGX_GetStr(drain, sizeof(drain), req.in) > 0)
			;
		FCGX_PutStr(answer, (int)strlen(answer), req.out);
		FCGX_Finish_r(&req);
	}
	return 0;
}
