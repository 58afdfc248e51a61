// Command ginroutes is a gin server for the test of routes taken from
// inside the process. Flags and output: package appserver.
//
//	GET  /users/:id               → "user <id>"
//	GET  /users/:id/orders/*rest  → "orders <id> <rest>"
//	POST /users                   → 201
//	anything else                 → gin's 404 (no route)
package main

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/ebpfred/ebpfred/internal/testserver/goapps/internal/appserver"
)

func main() {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/users/:id", func(c *gin.Context) {
		c.String(http.StatusOK, "user %s\n", c.Param("id"))
	})
	r.GET("/users/:id/orders/*rest", func(c *gin.Context) {
		c.String(http.StatusOK, "orders %s %s\n", c.Param("id"), c.Param("rest"))
	})
	r.POST("/users", func(c *gin.Context) {
		c.String(http.StatusCreated, "created\n")
	})
	appserver.Run("ginroutes", r)
}
