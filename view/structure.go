package view

import (
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// buildStructure describes the application tree once: it does not change
// while the application runs.
func buildStructure(app *runtime.App) *Structure {
	tap := app.Tap()
	st := &Structure{Type: "structure", App: app.Name}
	ids := map[string]int32{}
	for _, e := range tap.Entries() {
		ids[e.Path] = e.ID
	}
	var nodes []*runtime.Node
	nodes = append(nodes, app.All()...)
	if rg := app.RateGroups(); rg != nil {
		nodes = append(nodes, rg)
		nodes = append(nodes, rg.Children...)
		for _, g := range rg.Children {
			st.Groups = append(st.Groups, GroupDecl{Name: g.Name})
		}
	}
	for _, n := range nodes {
		c := Component{Path: n.Path, Name: n.Name, Type: n.TypeName, Desc: n.Description, FS: n.Rate.FS}
		if n.Parent != nil {
			c.Parent = n.Parent.Path
		}
		if n.Rate.Group != "" {
			c.Group = n.Rate.Group + "_" + n.Rate.Priority.String()
		}
		for _, p := range n.Ports() {
			i := p.Info()
			id, ok := ids[i.Path]
			if !ok {
				id = -1
			}
			c.Signals = append(c.Signals, MemberDecl{ID: id, Name: i.Name, Path: i.Path, Dir: i.Dir.String(), Type: i.Kind.String(), Unit: i.Unit, Desc: i.Desc})
		}
		for _, p := range n.Params() {
			i := p.Info()
			id, ok := ids[i.Path]
			if !ok {
				id = -1
			}
			c.Params = append(c.Params, MemberDecl{ID: id, Name: i.Name, Path: i.Path, Type: i.Kind.String(), Unit: i.Unit, Desc: i.Desc, Min: i.Min, Max: i.Max, Default: defaultText(i.Default)})
		}
		for _, a := range n.Alarms() {
			i := a.Info()
			c.Alarms = append(c.Alarms, AlarmDecl{Path: i.Path, Name: i.Name, Level: i.Level.String(), Text: i.Text})
		}
		st.Components = append(st.Components, c)
	}
	for _, a := range app.AppAlarms() {
		i := a.Info()
		st.Alarms = append(st.Alarms, AlarmDecl{Path: i.Path, Name: i.Name, Level: i.Level.String(), Text: i.Text})
	}
	return st
}

func defaultText(v signals.Value) string {
	if v.Kind() == signals.Invalid {
		return ""
	}
	return v.Text()
}
