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
        // 3 metrics: a bar chart each and a curve each against entries.
        Assert.Equal(
            ["tlb.misses by case", "walk.memrefs by case", "faults.total by case",
             "tlb.misses against entries", "walk.memrefs against entries", "faults.total against entries"],
            page.Images.Select(i => i.Alt));
        Assert.All(page.Images, i => Assert.True(i.Width >= 640 && i.Height >= 300, $"{i.Alt}: {i.Width}x{i.Height}"));
        Assert.True(page.Screenshot.Length > 10_000 && page.Screenshot[1] == (byte)'P');
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
