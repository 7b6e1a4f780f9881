package ui

// The OpenAPI document is built from the routes echo actually serves plus
// the descriptions in apiDocs, so it can't list a route that doesn't exist
// or miss one that does (TestOpenAPICoversEveryRoute holds the second).

import (
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// routeDoc describes one API route.
type routeDoc struct {
	Summary  string
	Tag      string
	Query    []string // query parameter names
	Body     any      // request body example value (its type becomes the schema)
	Response any      // response body example value; nil: no JSON body
	Public   bool     // needs no login
}

// openapiDoc caches the built document.
type openapiDoc struct {
	once sync.Once
	json map[string]any
}

// docRoutes serves the document, without login, so integrators can read it.
func (s *Server) docRoutes() {
	doc := &openapiDoc{}
	s.echo.GET("/api/v1/openapi.json", func(c echo.Context) error {
		doc.once.Do(func() { doc.json = s.buildOpenAPI() })
		return c.JSON(http.StatusOK, doc.json)
	})
}

// apiRoutes lists the served /api/v1 routes as "METHOD /path/{param}".
func (s *Server) apiRoutes() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range s.echo.Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1/") || strings.HasSuffix(r.Path, "/*") || r.Method == echo.RouteNotFound {
			continue
		}
		key := r.Method + " " + openapiPath(strings.TrimPrefix(r.Path, "/api/v1"))
		if !seen[key] {
			seen[key] = true
			out = append(out, key)
		}
	}
	sort.Strings(out)
	return out
}

// openapiPath turns echo's /messages/:id into OpenAPI's /messages/{id}.
func openapiPath(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if strings.HasPrefix(part, ":") {
			parts[i] = "{" + part[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

func (s *Server) buildOpenAPI() map[string]any {
	paths := map[string]map[string]any{}
	for _, key := range s.apiRoutes() {
		method, path, _ := strings.Cut(key, " ")
		d := apiDocs[key]
		op := map[string]any{"summary": d.Summary, "operationId": operationID(method, path)}
		if d.Tag != "" {
			op["tags"] = []string{d.Tag}
		}
		var params []map[string]any
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true,
					"schema": map[string]any{"type": "string"}})
			}
		}
		for _, q := range d.Query {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if d.Body != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(d.Body))}}}
		}
		ok := map[string]any{"description": "OK"}
		if d.Response != nil {
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(d.Response))}}
		}
		op["responses"] = map[string]any{
			"200": ok,
			"400": map[string]any{"$ref": "#/components/responses/Error"},
			"401": map[string]any{"$ref": "#/components/responses/Error"},
			"403": map[string]any{"$ref": "#/components/responses/Error"},
			"404": map[string]any{"$ref": "#/components/responses/Error"},
		}
		if d.Public {
			op["security"] = []any{}
		}
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "Frontdesk API", "version": s.version,
			"description": "Everything the Frontdesk web UI does. Log in with a browser session (send the X-CSRF-Token header on changes) or HTTP Basic with a Frontdesk user name and password."},
		"servers":  []any{map[string]any{"url": "/api/v1"}},
		"security": []any{map[string]any{"basic": []any{}}, map[string]any{"session": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"basic":   map[string]any{"type": "http", "scheme": "basic"},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": "fd_session"},
			},
			"schemas": map[string]any{"Error": schemaOf(reflect.TypeOf(apiError{}))},
			"responses": map[string]any{"Error": map[string]any{"description": "What is wrong, in a sentence",
				"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}},
		},
	}
}

// operationID names an operation: GET /messages/{id}/audio -> get_messages_id_audio.
func operationID(method, path string) string {
	r := strings.NewReplacer("/", "_", "{", "", "}", "", "-", "_")
	return strings.ToLower(method) + strings.TrimRight(r.Replace(path), "_")
}

var timeType = reflect.TypeOf(time.Time{})

// schemaOf describes a Go type as a JSON schema, following json tags.
func schemaOf(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case reflect.Struct:
		props := map[string]any{}
		addFields(t, props)
		return map[string]any{"type": "object", "properties": props}
	}
	return map[string]any{}
}

// addFields adds t's JSON fields to props, flattening embedded structs.
func addFields(t reflect.Type, props map[string]any) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addFields(ft, props)
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaOf(f.Type)
	}
}
