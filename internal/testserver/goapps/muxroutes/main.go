// Command muxroutes is a gorilla/mux server for the test of routes taken
// from inside the process. Flags and output: package appserver.
//
//	GET /products/{id:[0-9]+}         → "product <id>"
//	GET /products/{id}/reviews/{rid}  → "review <id> <rid>"
//	/api/ prefix subrouter: GET /api/v1/things/{name} → "thing <name>"
//	anything else                     → 404 (no route)
package main

import (
	"io"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/ebpfred/ebpfred/internal/testserver/goapps/internal/appserver"
)

func main() {
	r := mux.NewRouter()
	r.HandleFunc("/products/{id:[0-9]+}", func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.WriteString(w, "product "+mux.Vars(req)["id"]+"\n")
	}).Methods(http.MethodGet)
	r.HandleFunc("/products/{id}/reviews/{rid}", func(w http.ResponseWriter, req *http.Request) {
		v := mux.Vars(req)
		_, _ = io.WriteString(w, "review "+v["id"]+" "+v["rid"]+"\n")
	}).Methods(http.MethodGet)
	api := r.PathPrefix("/api").Subrouter()
	api.HandleFunc("/v1/things/{name}", func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.WriteString(w, "thing "+mux.Vars(req)["name"]+"\n")
	})
	appserver.Run("muxroutes", r)
}
