package vnfc

import (
	"errors"
	"os/user"
	"reflect"
	"strings"
	"testing"
)

// fakeAccounts serves users and groups from maps, including entries that a
// broken or hostile /etc/passwd could hold.
func fakeAccounts(users map[string]*user.User, groups map[string]*user.Group, groupIDs func(*user.User) ([]string, error)) accounts {
	return accounts{
		lookupUser: func(name string) (*user.User, error) {
			if u, ok := users[name]; ok {
				return u, nil
			}
			return nil, user.UnknownUserError(name)
		},
		lookupUserID: func(uid string) (*user.User, error) {
			for _, u := range users {
				if u.Uid == uid {
					return u, nil
				}
			}
			return nil, errors.New("no such uid")
		},
		lookupGroup: func(name string) (*user.Group, error) {
			if g, ok := groups[name]; ok {
				return g, nil
			}
			return nil, user.UnknownGroupError(name)
		},
		lookupGroupID: func(gid string) (*user.Group, error) {
			for _, g := range groups {
				if g.Gid == gid {
					return g, nil
				}
			}
			return nil, errors.New("no such gid")
		},
		groupIDs: groupIDs,
	}
}

// TestCredentialFailsClosed: an id that does not parse, or groups that
// cannot be read, are errors; before, the first became uid or gid 0 (root)
// and the second dropped the groups silently.
func TestCredentialFailsClosed(t *testing.T) {
	users := map[string]*user.User{
		"vnf":       {Username: "vnf", Uid: "1000", Gid: "1000", HomeDir: "/home/vnf"},
		"root":      {Username: "root", Uid: "0", Gid: "0", HomeDir: "/root"},
		"baduid":    {Username: "baduid", Uid: "abc", Gid: "1000"},
		"bigduid":   {Username: "bigduid", Uid: "4294967296", Gid: "1000"},
		"neguid":    {Username: "neguid", Uid: "-1", Gid: "1000"},
		"nochange":  {Username: "nochange", Uid: "4294967295", Gid: "1000"},
		"badgid":    {Username: "badgid", Uid: "1001", Gid: "x"},
		"nogroups":  {Username: "nogroups", Uid: "1002", Gid: "1002"},
		"badgroups": {Username: "badgroups", Uid: "1003", Gid: "1003"},
	}
	groups := map[string]*user.Group{
		"vnf":    {Name: "vnf", Gid: "1000"},
		"badgid": {Name: "badgid", Gid: "0x10"},
	}
	groupIDs := func(u *user.User) ([]string, error) {
		switch u.Username {
		case "nogroups":
			return nil, errors.New("read /etc/group: permission denied")
		case "badgroups":
			return []string{"1003", "oops"}, nil
		}
		return []string{u.Gid}, nil
	}
	a := fakeAccounts(users, groups, groupIDs)
	tests := []struct {
		user, group string
		want        *credential // nil: an error
		err         string
	}{
		{user: "vnf", want: &credential{uid: 1000, gid: 1000, groups: []uint32{1000}, name: "vnf"}},
		{user: "1000", want: &credential{uid: 1000, gid: 1000, groups: []uint32{1000}, name: "vnf"}},
		{user: "vnf", group: "vnf", want: &credential{uid: 1000, gid: 1000, groups: []uint32{1000}, name: "vnf"}},
		{group: "1000", want: &credential{gid: 1000, name: "root"}},
		// Root when asked for by name or number: not by accident.
		{user: "0", want: &credential{uid: 0, gid: 0, groups: []uint32{0}, name: "root"}},
		{user: "baduid", err: `user "baduid" has uid "abc": not a valid id`},
		{user: "bigduid", err: "not a valid id"},
		{user: "neguid", err: "not a valid id"},
		{user: "nochange", err: "not a valid id"},
		{user: "badgid", err: `primary gid "x"`},
		{user: "nogroups", err: "read the groups of user"},
		{user: "badgroups", err: `is in group "oops"`},
		{group: "badgid", err: `group "badgid" has gid "0x10"`},
		{user: "4294967296", err: "unknown user"},
		{user: "00", err: "unknown user"},
		{user: "../root", err: "unknown user"},
		{user: strings.Repeat("u", 5000), err: "unknown user"},
		{group: "nope", err: "unknown group"},
	}
	for _, tt := range tests {
		t.Run(tt.user+":"+tt.group, func(t *testing.T) {
			got, _, err := a.credential(tt.user, tt.group)
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("credential = %+v, %v; want error %q", got, err, tt.err)
				}
				if len(err.Error()) > 128 {
					t.Errorf("error of %d bytes: %q", len(err.Error()), err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("credential = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestStringParams keeps stringParams, the parameters checked for NUL
// bytes, equal to the declaration.
func TestStringParams(t *testing.T) {
	var want []string
	for _, p := range Agent.Params {
		if p.Type == "string" {
			want = append(want, p.Name)
		}
	}
	if !reflect.DeepEqual(stringParams, want) {
		t.Errorf("stringParams = %q, want %q", stringParams, want)
	}
}
