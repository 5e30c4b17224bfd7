package view_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/metronome-rt/metronome/internal/mqtttest"
)

// browser starts Debian's chromium headless with a fresh profile. It is
// skipped where chromium is missing, and fails in CI, which installs it.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := mqtttest.RequireTool(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	return bctx
}

type step = chromedp.Action[chromedp.Void]

// poll waits until a JavaScript expression is true in the page.
func poll(what, expr string) step {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))(ctx, t)
		if err != nil {
			return fmt.Errorf("waiting until %s (%s): %w", what, expr, err)
		}
		return nil
	})
}

func row(path string) string {
	return fmt.Sprintf(`document.querySelector('tr[data-path="%s"]')`, path)
}

// click clicks the element a CSS selector names, as a mouse would.
func click(sel string) step { return chromedp.Click(sel) }

func setValue(sel, v string) step { return chromedp.SetValue(sel, v) }

func selectComp(path string) step {
	return chromedp.Steps(
		click(fmt.Sprintf(`#tree li[data-comp="%s"] > span`, path)),
		poll("the component's rows show", row(path+".ProcessTime")+` !== null`),
	)
}

func TestPageInARealBrowser(t *testing.T) {
	ctx := browser(t)
	r := startRig(t, writableConfig(t))
	url := "http://" + r.srv.Addr() + "/"
	shot := func(name string) step {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			dir := os.Getenv("METRONOME_SCREENSHOTS")
			if dir == "" {
				dir = t.TempDir()
			}
			return os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
		})
	}
	steps := []struct {
		name string
		act  step
	}{
		{"loads", chromedp.Steps(
			chromedp.Navigate(url),
			poll("the tree is built", `document.querySelector('#tree li[data-comp="T.Wave"]') !== null`),
			poll("the page is live", `document.querySelector('#conn').textContent === 'live'`),
		)},
		{"shows a value changing", chromedp.Steps(
			selectComp("T.Wave"),
			poll("the wave is good", row("T.Wave.Out")+`.classList.contains('q-good')`),
			chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
				first, err := chromedp.Evaluate[string](row("T.Wave.Out")+`.querySelector('td.value').textContent`)(ctx, t)
				if err != nil {
					return err
				}
				_, err = poll("the wave changes", row("T.Wave.Out")+fmt.Sprintf(`.querySelector('td.value').textContent !== %q`, first))(ctx, t)
				return err
			}),
		)},
		{"marks a stale input", chromedp.Steps(
			selectComp("T.Heater"),
			poll("the setpoint input turns stale", row("T.Heater.In")+`.classList.contains('q-stale') && `+row("T.Heater.In")+`.querySelector('td.quality').textContent === 'stale'`),
			poll("a good output looks different", `getComputedStyle(`+row("T.Heater.In")+`.querySelector('td.quality')).backgroundColor !== getComputedStyle(`+row("T.Heater.ProcessTime")+`.querySelector('td.quality')).backgroundColor`),
			shot("stale"),
		)},
		{"logs in", chromedp.Steps(
			setValue(`#user`, "op"),
			setValue(`#password`, testPassword),
			click(`#login`),
			poll("the login is shown", `document.querySelector('#who').textContent === 'logged in as op'`),
		)},
		{"refuses an out-of-range parameter", chromedp.Steps(
			selectComp("T.Wave"),
			setValue(`tr[data-path="T.Wave.Frequency"] input.newval`, "-1"),
			click(`tr[data-path="T.Wave.Frequency"] button.set`),
			poll("the refusal is shown", row("T.Wave.Frequency")+`.querySelector('.msg.refused') !== null && /out_of_range.*minimum/.test(`+row("T.Wave.Frequency")+`.querySelector('.msg').textContent)`),
			poll("the value is unchanged", row("T.Wave.Frequency")+`.querySelector('td.value').textContent === '0.5 Hz'`),
		)},
		{"edits a parameter", chromedp.Steps(
			setValue(`tr[data-path="T.Wave.Frequency"] input.newval`, "0.25"),
			click(`tr[data-path="T.Wave.Frequency"] button.set`),
			poll("the write is confirmed", row("T.Wave.Frequency")+`.querySelector('.msg.ok') !== null`),
			poll("the new value shows", row("T.Wave.Frequency")+`.querySelector('td.value').textContent === '0.25 Hz'`),
		)},
		{"acknowledges an alarm", chromedp.Steps(
			selectComp("T.Guard"),
			setValue(`tr[data-path="T.Guard.Limit"] input.newval`, "-100"),
			click(`tr[data-path="T.Guard.Limit"] button.set`),
			poll("the alarm is listed unacknowledged", `document.querySelector('#alarms tr[data-alarm="T.Guard.High"].active.unacked button.ack') !== null`),
			shot("alarm"),
			click(`#alarms tr[data-alarm="T.Guard.High"] button.ack`),
			poll("the alarm is acknowledged and still active", `(() => { const r = document.querySelector('#alarms tr[data-alarm="T.Guard.High"]'); return r !== null && r.classList.contains('active') && !r.classList.contains('unacked') && r.querySelector('button.ack') === null })()`),
		)},
		{"forces a signal", chromedp.Steps(
			selectComp("T.Heater"),
			setValue(`tr[data-path="T.Heater.In"] input.forceval`, "7"),
			click(`tr[data-path="T.Heater.In"] button.force`),
			poll("the input is marked forced with its real value", row("T.Heater.In")+`.classList.contains('forced') && /^7FORCEDreal: 20 \(stale\)$/.test(`+row("T.Heater.In")+`.querySelector('td.value').textContent)`),
			poll("the output follows the force", row("T.Heater.Out")+`.querySelector('td.value').textContent === '14'`),
			poll("the banner shows", `!document.querySelector('#forcebanner').classList.contains('hidden') && document.querySelector('#forcebanner').textContent === 'FORCES ACTIVE: 1'`),
			poll("the force list names it", `document.querySelector('#forces tr[data-force="T.Heater.In"]') !== null && /by op@127.0.0.1/.test(document.querySelector('#forces tr[data-force="T.Heater.In"]').textContent)`),
			poll("the ForcesActive alarm is raised", `document.querySelector('#alarms tr[data-alarm="T.ForcesActive"].active') !== null`),
			shot("forced"),
		)},
		{"releases it", chromedp.Steps(
			click(`#forces tr[data-force="T.Heater.In"] button.release`),
			poll("the input is back to its real value", `!`+row("T.Heater.In")+`.classList.contains('forced') && `+row("T.Heater.In")+`.classList.contains('q-stale') && `+row("T.Heater.In")+`.querySelector('td.value').textContent === '20'`),
			poll("the banner is gone", `document.querySelector('#forcebanner').classList.contains('hidden')`),
			poll("ForcesActive is cleared", `document.querySelector('#alarms tr[data-alarm="T.ForcesActive"].active') === null`),
		)},
		{"draws a trend", chromedp.Steps(
			selectComp("T.Wave"),
			click(`tr[data-path="T.Wave.Out"] input.trendbox`),
			poll("the legend names the signal", `/T\.Wave\.Out/.test(document.querySelector('#legend').textContent)`),
			poll("the plot has data", `(() => { const c = document.querySelector('#trend'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i+3] > 0 && d[i] === 45 && d[i+1] === 108) n++; return n > 20 })()`),
		)},
	}
	for _, s := range steps {
		if err := chromedp.Do(ctx, s.act); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main').outerHTML`))
			t.Fatalf("%s: %v\npage:\n%s", s.name, err, html)
		}
	}
}
