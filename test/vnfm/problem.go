package vnfm

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// ProblemDetails is an error body as Tacker writes it (SOL013 6.3, RFC
// 7807): status and detail always, title when the error class has one,
// never type or instance.
type ProblemDetails struct {
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Title  string `json:"title,omitempty"`
}

// writeProblem answers a ProblemDetails as application/problem+json, with
// Tacker's title for the status.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	p := ProblemDetails{Status: status, Detail: detail, Title: problemTitle(status)}
	writeJSON(w, status, "application/problem+json", p)
}

// problemTitle is the title Tacker's SolHttpError classes set; 500 has
// none (an unknown exception), 415 and 503 are ours (research §1.6).
func problemTitle(status int) string {
	switch status {
	case 400, 403, 404, 405, 406, 409, 422:
		return http.StatusText(status)
	case 415:
		return "Unsupported Media Type"
	case 503:
		return "Service Unavailable"
	}
	return ""
}

// writeUnauthorized answers a missing, unknown or expired token as
// keystonemiddleware does: 401 with its own JSON error, not a
// ProblemDetails, so that a client that insists on problem+json is caught.
func writeUnauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="vnfm"`)
	body := map[string]any{"error": map[string]any{
		"code":    401,
		"title":   "Unauthorized",
		"message": "The request you have made requires authentication.",
	}}
	writeJSON(w, http.StatusUnauthorized, "application/json", body)
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only our own types are written: a bug
		http.Error(w, "encode answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
