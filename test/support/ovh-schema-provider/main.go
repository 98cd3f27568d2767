// A schema-only stand-in for the OVH Terraform provider (registry.terraform.io/ovh/ovh): it serves the
// real provider's schema, read from the output of `terraform providers schema -json` embedded at build
// time, so that `validate` and `test` with `mock_provider "ovh" {}` check configurations against what
// the real provider accepts. Every call that would reach the OVH API returns one error saying so.
package main

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

const (
	providerAddress = "registry.terraform.io/ovh/ovh"
	providerVersion = "2.19.0"
)

// The build copies the schema next to this file in a temporary folder; it is never committed.
//
//go:embed ovh-2.19.0.schema.json.gz
var schemaGzip []byte

// The JSON of `terraform providers schema -json`. Unknown fields are refused, so a schema using
// something this program does not serve (functions, ephemeral resources, identities) fails loudly
// instead of being served in part.
type schemaDocument struct {
	FormatVersion   string                    `json:"format_version"`
	ProviderSchemas map[string]providerSchema `json:"provider_schemas"`
}

type providerSchema struct {
	Provider          jsonSchema            `json:"provider"`
	ResourceSchemas   map[string]jsonSchema `json:"resource_schemas"`
	DataSourceSchemas map[string]jsonSchema `json:"data_source_schemas"`
}

type jsonSchema struct {
	Version int64     `json:"version"`
	Block   jsonBlock `json:"block"`
}

type jsonBlock struct {
	Attributes      map[string]jsonAttribute `json:"attributes"`
	BlockTypes      map[string]jsonBlockType `json:"block_types"`
	Description     string                   `json:"description"`
	DescriptionKind string                   `json:"description_kind"`
	Deprecated      bool                     `json:"deprecated"`
}

type jsonAttribute struct {
	Type            json.RawMessage `json:"type"`
	NestedType      *jsonNestedType `json:"nested_type"`
	Description     string          `json:"description"`
	DescriptionKind string          `json:"description_kind"`
	Required        bool            `json:"required"`
	Optional        bool            `json:"optional"`
	Computed        bool            `json:"computed"`
	Sensitive       bool            `json:"sensitive"`
	Deprecated      bool            `json:"deprecated"`
	WriteOnly       bool            `json:"write_only"`
}

type jsonNestedType struct {
	Attributes  map[string]jsonAttribute `json:"attributes"`
	NestingMode string                   `json:"nesting_mode"`
}

type jsonBlockType struct {
	NestingMode string    `json:"nesting_mode"`
	Block       jsonBlock `json:"block"`
	MinItems    int64     `json:"min_items"`
	MaxItems    int64     `json:"max_items"`
}

// schemas is what GetProviderSchema returns, converted once at start.
type schemas struct {
	provider    *tfprotov6.Schema
	resources   map[string]*tfprotov6.Schema
	dataSources map[string]*tfprotov6.Schema
}

func loadSchemas(gz []byte) (*schemas, error) {
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("the embedded schema is not gzip data: %w", err)
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("the embedded schema cannot be decompressed: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var doc schemaDocument
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("the embedded schema is not the JSON of `terraform providers schema -json` this program serves: %w", err)
	}
	p, ok := doc.ProviderSchemas[providerAddress]
	if !ok || len(doc.ProviderSchemas) != 1 {
		return nil, fmt.Errorf("the embedded schema must hold exactly the provider %s", providerAddress)
	}
	out := &schemas{resources: map[string]*tfprotov6.Schema{}, dataSources: map[string]*tfprotov6.Schema{}}
	if out.provider, err = convertSchema(p.Provider); err != nil {
		return nil, fmt.Errorf("provider block: %w", err)
	}
	for name, s := range p.ResourceSchemas {
		if out.resources[name], err = convertSchema(s); err != nil {
			return nil, fmt.Errorf("resource %s: %w", name, err)
		}
	}
	for name, s := range p.DataSourceSchemas {
		if out.dataSources[name], err = convertSchema(s); err != nil {
			return nil, fmt.Errorf("data source %s: %w", name, err)
		}
	}
	return out, nil
}

func convertSchema(s jsonSchema) (*tfprotov6.Schema, error) {
	block, err := convertBlock(s.Block)
	if err != nil {
		return nil, err
	}
	block.Version = s.Version
	return &tfprotov6.Schema{Version: s.Version, Block: block}, nil
}

// sortedKeys keeps the served schema byte-stable from one start to the next.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func convertBlock(b jsonBlock) (*tfprotov6.SchemaBlock, error) {
	out := &tfprotov6.SchemaBlock{Deprecated: b.Deprecated}
	attrs, err := convertAttributes(b.Attributes)
	if err != nil {
		return nil, err
	}
	out.Attributes = attrs
	for _, name := range sortedKeys(b.BlockTypes) {
		bt := b.BlockTypes[name]
		nested, err := convertBlock(bt.Block)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", name, err)
		}
		mode, ok := blockNesting[bt.NestingMode]
		if !ok {
			return nil, fmt.Errorf("block %s: unknown nesting mode %q", name, bt.NestingMode)
		}
		out.BlockTypes = append(out.BlockTypes, &tfprotov6.SchemaNestedBlock{
			TypeName: name,
			Block:    nested,
			Nesting:  mode,
			MinItems: bt.MinItems,
			MaxItems: bt.MaxItems,
		})
	}
	return out, nil
}

var blockNesting = map[string]tfprotov6.SchemaNestedBlockNestingMode{
	"single": tfprotov6.SchemaNestedBlockNestingModeSingle,
	"list":   tfprotov6.SchemaNestedBlockNestingModeList,
	"set":    tfprotov6.SchemaNestedBlockNestingModeSet,
	"map":    tfprotov6.SchemaNestedBlockNestingModeMap,
	"group":  tfprotov6.SchemaNestedBlockNestingModeGroup,
}

var objectNesting = map[string]tfprotov6.SchemaObjectNestingMode{
	"single": tfprotov6.SchemaObjectNestingModeSingle,
	"list":   tfprotov6.SchemaObjectNestingModeList,
	"set":    tfprotov6.SchemaObjectNestingModeSet,
	"map":    tfprotov6.SchemaObjectNestingModeMap,
}

func convertAttributes(attrs map[string]jsonAttribute) ([]*tfprotov6.SchemaAttribute, error) {
	out := make([]*tfprotov6.SchemaAttribute, 0, len(attrs))
	for _, name := range sortedKeys(attrs) {
		a := attrs[name]
		attr := &tfprotov6.SchemaAttribute{
			Name:       name,
			Required:   a.Required,
			Optional:   a.Optional,
			Computed:   a.Computed,
			Sensitive:  a.Sensitive,
			Deprecated: a.Deprecated,
			WriteOnly:  a.WriteOnly,
		}
		switch {
		case a.NestedType != nil && a.Type == nil:
			nestedAttrs, err := convertAttributes(a.NestedType.Attributes)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %w", name, err)
			}
			mode, ok := objectNesting[a.NestedType.NestingMode]
			if !ok {
				return nil, fmt.Errorf("attribute %s: unknown nesting mode %q", name, a.NestedType.NestingMode)
			}
			attr.NestedType = &tfprotov6.SchemaObject{Attributes: nestedAttrs, Nesting: mode}
		case a.NestedType == nil && a.Type != nil:
			var notation any
			if err := json.Unmarshal(a.Type, &notation); err != nil {
				return nil, fmt.Errorf("attribute %s: %w", name, err)
			}
			t, err := ctyType(notation)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %w", name, err)
			}
			attr.Type = t
		default:
			return nil, fmt.Errorf("attribute %s must have either a type or a nested_type", name)
		}
		out = append(out, attr)
	}
	return out, nil
}

// ctyType reads cty's JSON type notation: "string", ["list", T], ["object", {…}, ["optional", …]], …
func ctyType(n any) (tftypes.Type, error) {
	switch v := n.(type) {
	case string:
		switch v {
		case "string":
			return tftypes.String, nil
		case "number":
			return tftypes.Number, nil
		case "bool":
			return tftypes.Bool, nil
		case "dynamic":
			return tftypes.DynamicPseudoType, nil
		}
	case []any:
		if len(v) < 2 {
			break
		}
		kind, _ := v[0].(string)
		switch kind {
		case "list", "set", "map":
			elem, err := ctyType(v[1])
			if err != nil {
				return nil, err
			}
			switch kind {
			case "list":
				return tftypes.List{ElementType: elem}, nil
			case "set":
				return tftypes.Set{ElementType: elem}, nil
			default:
				return tftypes.Map{ElementType: elem}, nil
			}
		case "object":
			fields, ok := v[1].(map[string]any)
			if !ok || len(v) > 3 {
				break
			}
			obj := tftypes.Object{AttributeTypes: map[string]tftypes.Type{}}
			for name, ft := range fields {
				t, err := ctyType(ft)
				if err != nil {
					return nil, err
				}
				obj.AttributeTypes[name] = t
			}
			if len(v) == 3 {
				optional, ok := v[2].([]any)
				if !ok {
					break
				}
				obj.OptionalAttributes = map[string]struct{}{}
				for _, o := range optional {
					name, ok := o.(string)
					if !ok {
						return nil, fmt.Errorf("optional attribute names must be strings in %v", n)
					}
					obj.OptionalAttributes[name] = struct{}{}
				}
			}
			return obj, nil
		case "tuple":
			elems, ok := v[1].([]any)
			if !ok {
				break
			}
			tuple := tftypes.Tuple{ElementTypes: make([]tftypes.Type, 0, len(elems))}
			for _, e := range elems {
				t, err := ctyType(e)
				if err != nil {
					return nil, err
				}
				tuple.ElementTypes = append(tuple.ElementTypes, t)
			}
			return tuple, nil
		}
	}
	return nil, fmt.Errorf("unknown type %v", n)
}

func main() {
	s, err := loadSchemas(schemaGzip)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ovh schema provider: %v\n", err)
		os.Exit(1)
	}
	// The build runs this to check the embedded schema without starting a plugin server.
	if len(os.Args) == 2 && os.Args[1] == "-summary" {
		fmt.Printf("%s %s (schema only): %d resources, %d data sources\n", providerAddress, providerVersion, len(s.resources), len(s.dataSources))
		return
	}
	if err := serve(s); err != nil {
		fmt.Fprintf(os.Stderr, "ovh schema provider: %v\n", err)
		os.Exit(1)
	}
}
