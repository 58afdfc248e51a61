package golang

import (
	"debug/buildinfo"
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"strings"
)

// FieldOffset returns the offset of a (possibly nested) field of a struct
// type from the binary's DWARF: FieldOffset(f, "pkg.T", "a", "b") is the
// offset of T.a.b, following embedded and nested struct values (not
// pointers). Go binaries carry DWARF unless linked with -w or stripped.
func FieldOffset(f *elf.File, typ string, fields ...string) (int64, error) {
	d, err := f.DWARF()
	if err != nil {
		return 0, fmt.Errorf("no DWARF: %w", err)
	}
	r := d.Reader()
	var st *dwarf.Entry
	for {
		e, err := r.Next()
		if err != nil {
			return 0, err
		}
		if e == nil {
			return 0, fmt.Errorf("type %s not in DWARF", typ)
		}
		if e.Tag == dwarf.TagStructType && e.Val(dwarf.AttrName) == typ {
			st = e
			break
		}
		if e.Tag != dwarf.TagCompileUnit && e.Children {
			r.SkipChildren()
		}
	}
	var off int64
	for i, name := range fields {
		m, err := member(d, st, name)
		if err != nil {
			return 0, fmt.Errorf("%s.%s: %w", typ, strings.Join(fields[:i+1], "."), err)
		}
		loc, ok := m.Val(dwarf.AttrDataMemberLoc).(int64)
		if !ok {
			return 0, fmt.Errorf("%s.%s: no offset", typ, strings.Join(fields[:i+1], "."))
		}
		off += loc
		if i == len(fields)-1 {
			break
		}
		tOff, ok := m.Val(dwarf.AttrType).(dwarf.Offset)
		if !ok {
			return 0, fmt.Errorf("%s.%s: no type", typ, strings.Join(fields[:i+1], "."))
		}
		tr := d.Reader()
		tr.Seek(tOff)
		st, err = tr.Next()
		if err != nil || st == nil || st.Tag != dwarf.TagStructType {
			return 0, fmt.Errorf("%s.%s: not a struct value", typ, strings.Join(fields[:i+1], "."))
		}
	}
	return off, nil
}

// member finds the member called name among the children of struct entry st.
func member(d *dwarf.Data, st *dwarf.Entry, name string) (*dwarf.Entry, error) {
	r := d.Reader()
	r.Seek(st.Offset)
	if _, err := r.Next(); err != nil { // st itself
		return nil, err
	}
	for {
		e, err := r.Next()
		if err != nil {
			return nil, err
		}
		if e == nil || e.Tag == 0 {
			return nil, fmt.Errorf("no such field")
		}
		if e.Tag == dwarf.TagMember && e.Val(dwarf.AttrName) == name {
			return e, nil
		}
		if e.Children {
			r.SkipChildren()
		}
	}
}

// ModuleVersion returns the version of module path linked into the Go
// binary (from its build information, present even when stripped), or "".
func ModuleVersion(file, path string) string {
	bi, err := buildinfo.ReadFile(file)
	if err != nil {
		return ""
	}
	for _, m := range bi.Deps {
		if m.Path == path {
			if m.Replace != nil {
				return m.Replace.Version
			}
			return m.Version
		}
	}
	return ""
}
