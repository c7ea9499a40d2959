namespace VmLab.Cli.Tests;

/// <summary>The HTML report opened in headless chromium: it renders, its charts load, the console stays clean.</summary>
public sealed class HtmlReportBrowserTests : IClassFixture<HtmlReportBrowserTests.Browser>, IDisposable
{
    public sealed class Browser : IDisposable
    {
        public HeadlessChromium Chromium { get; } = new();
        public void Dispose() => Chromium.Dispose();
    }

    private readonly HeadlessChromium _chromium;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "vmlab-html-" + Guid.NewGuid().ToString("N"));

    public HtmlReportBrowserTests(Browser browser)
    {
        _chromium = browser.Chromium;
        Directory.CreateDirectory(_dir);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private string P(string name) => Path.Combine(_dir, name);

    [Fact]
    public void TheHtmlReportRendersInChromiumWithEveryChartAndNoConsoleError()
    {
        string trace = Path.Combine(SweepCliTests.RepoRoot, "configs", "traces", "tiny.lackey");
        File.WriteAllText(P("sweep.json"), $$"""
            {
              "name": "html",
              "base": { "machine": { "tlb": { "plugin": "fully-associative" } },
                        "workload": { "plugin": "lackey", "options": { "path": "{{trace}}" } } },
              "matrix": { "machine:tlb:options:entries": [1, 2, 4, 8], "machine:tlb:options:policy": ["lru", "fifo"] }
            }
            """);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.Equal(0, new VmLabCommand(stdout, stderr).Run(["sweep", P("sweep.json"), "--db", P("h.db")]));
        Assert.Equal(0, new VmLabCommand(stdout, stderr).Run(["report", P("h.db"), "--html", P("report.html"), "--metrics", "tlb.misses,walk.memrefs,faults.total"]));

        var page = _chromium.Check(P("report.html"));

        Assert.Empty(page.ConsoleErrors);
        Assert.Equal(8, page.TableRows);
        // 3 metrics, each drawn for its values and its ratios: bars by case, bars grouped by each axis, a curve against entries.
        Assert.Equal(
            [.. new[] { "tlb.misses", "walk.memrefs", "faults.total" }.SelectMany(m => new[] { m, m + " / baseline" })
                .SelectMany(w => new[] { $"{w} by case", $"{w} by entries", $"{w} by policy", $"{w} against entries" })],
            page.Images.Select(i => i.Alt));
        Assert.All(page.Images, i => Assert.True(i.Width >= 640 && i.Height >= 300, $"{i.Alt}: {i.Width}x{i.Height}"));
        Assert.True(page.Screenshot.Length > 10_000 && page.Screenshot[1] == (byte)'P');
    }

    [Fact]
    public void TheTableOfEightMetricsAndRatesFitsA1280PixelWindowWithoutHorizontalScrolling()
    {
        string trace = Path.Combine(SweepCliTests.RepoRoot, "configs", "traces", "tiny.lackey");
        File.WriteAllText(P("wide.json"), $$"""
            {
              "name": "wide",
              "description": "a long description that should wrap inside the page rather than widen it: {{new string('x', 40)}} {{string.Join(' ', Enumerable.Repeat("words", 60))}}",
              "base": { "machine": { "tlb": { "plugin": "fully-associative" } },
                        "workload": { "plugin": "lackey", "options": { "path": "{{trace}}" } } },
              "matrix": { "machine:tlb:options:entries": [1, 2, 4, 8, 16, 32], "machine:tlb:options:policy": ["lru", "fifo"] }
            }
            """);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.Equal(0, new VmLabCommand(stdout, stderr).Run(["sweep", P("wide.json"), "--db", P("w.db"), "--isolation", "none"]));
        string[] metrics = ["accesses", "tlb.hits", "tlb.misses", "tlb.miss_ratio", "walk.count", "walk.memrefs", "walk.memrefs_per_walk", "faults.total", "faults.per_kilo_access", "pagetable.pages"];
        Assert.Equal(0, new VmLabCommand(stdout, stderr).Run(["report", P("w.db"), "--html", P("wide.html"), "--metrics", string.Join(",", metrics), "--charts", "value"]));

        var page = _chromium.Check(P("wide.html"));

        Assert.Equal(1280, page.ViewportWidth);
        Assert.Equal(12, page.TableRows);
        Assert.Equal(0, page.TableOverflow);
        Assert.Equal(0, page.PageOverflow);
        Assert.Empty(page.ConsoleErrors);
    }

    [Fact]
    public void TheWidthCheckSeesATableWiderThanThePage()
    {
        string cells = string.Concat(Enumerable.Range(0, 30).Select(i => "<td style='white-space:nowrap'>column-" + i + "-1234567</td>"));
        File.WriteAllText(P("overflow.html"), $$"""
            <!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>wide</title></head>
            <body><div><table><tr>{{cells}}</tr></table></div></body></html>
            """);

        var page = _chromium.Check(P("overflow.html"));

        Assert.True(page.TableOverflow > 0, $"table overflow {page.TableOverflow}");
        Assert.True(page.PageOverflow > 0, $"page overflow {page.PageOverflow}");
    }

    [Fact]
    public void TheBrowserCheckSeesConsoleErrorsAndBrokenImages()
    {
        File.WriteAllText(P("bad.html"), """
            <!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>bad</title></head>
            <body><img alt="broken" src="data:image/png;base64,AAAA"><script>console.error("deliberate failure");</script></body></html>
            """);

        var page = _chromium.Check(P("bad.html"));

        Assert.Contains(page.ConsoleErrors, m => m.Contains("deliberate failure"));
        Assert.Equal([("broken", 0, 0)], page.Images);
    }
}
