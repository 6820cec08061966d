package spectest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator"
)

// Nosto is the schema of Nosto's GraphQL API that sessiontap uses (see
// the file's header for its sources).
const Nosto = "nosto-graphql.graphql"

var nosto struct {
	once   sync.Once
	schema *ast.Schema
	err    error
}

// GraphQLRequest is a request to a GraphQL endpoint.
type GraphQLRequest struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables"`
}

// NostoSchema returns the Nosto schema, or fails the test.
func NostoSchema(t testing.TB) *ast.Schema {
	t.Helper()
	nosto.once.Do(func() {
		path, err := Find(Nosto)
		if err != nil {
			nosto.err = err
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			nosto.err = err
			return
		}
		nosto.schema, nosto.err = gqlparser.LoadSchema(&ast.Source{Name: Nosto, Input: string(b)})
	})
	if nosto.err != nil {
		t.Fatalf("spec: %v", nosto.err)
	}
	return nosto.schema
}

// ValidateGraphQL checks a request body against schema: JSON with a query
// that parses and validates, one operation, and variables of the types
// the operation declares. It returns the request and the operation.
func ValidateGraphQL(schema *ast.Schema, body []byte) (*GraphQLRequest, *ast.OperationDefinition, error) {
	var req GraphQLRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, nil, fmt.Errorf("the body is not a GraphQL request: %w", err)
	}
	doc, errs := gqlparser.LoadQuery(schema, req.Query)
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("the query does not validate: %w", errs)
	}
	if len(doc.Operations) != 1 {
		return nil, nil, fmt.Errorf("%d operations in one request, want 1", len(doc.Operations))
	}
	op := doc.Operations[0]
	if req.Variables == nil {
		req.Variables = map[string]any{}
	}
	if _, err := validator.VariableValues(schema, op, req.Variables); err != nil {
		return nil, nil, fmt.Errorf("the variables do not validate: %w", err)
	}
	if op.Operation != ast.Mutation {
		return nil, nil, errors.New("not a mutation")
	}
	return &req, op, nil
}
