using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace VmLab.Cli.Tests;

/// <summary>What a page showed in the browser: its images as loaded and the console messages of level SEVERE.</summary>
public sealed record PageCheck(IReadOnlyList<(string Alt, int Width, int Height)> Images, IReadOnlyList<string> ConsoleErrors, int TableRows, byte[] Screenshot)
{
    /// <summary>The window's width in CSS pixels (the browser runs at 1280).</summary>
    public int ViewportWidth { get; init; }

    /// <summary>How much wider than the window the page is (0: no horizontal scroll bar).</summary>
    public int PageOverflow { get; init; }

    /// <summary>How much wider the first table is than the box it sits in (0: it fits without its own scroll bar), or -1 without a table.</summary>
    public int TableOverflow { get; init; }
}

/// <summary>
/// Debian's chromium driven through chromium-driver (W3C WebDriver over HTTP): headless, no sandbox, no GPU, no
/// background networking, a fresh profile. One browser session for the test class.
/// Needs: apt-get install -y chromium chromium-driver.
/// </summary>
public sealed class HeadlessChromium : IDisposable
{
    private readonly Process _driver;
    private readonly HttpClient _http;
    private readonly string _session = "";
    private readonly string _profile = Path.Combine(Path.GetTempPath(), "vmlab-chromium-" + Guid.NewGuid().ToString("N"));

    public HeadlessChromium()
    {
        string driver = Which("chromedriver") ?? throw new InvalidOperationException("chromedriver not found: apt-get install -y chromium chromium-driver");
        string browser = Which("chromium") ?? throw new InvalidOperationException("chromium not found: apt-get install -y chromium chromium-driver");
        int port = FreePort();
        _driver = Process.Start(new ProcessStartInfo(driver, [$"--port={port}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        _driver.OutputDataReceived += (_, _) => { };
        _driver.ErrorDataReceived += (_, _) => { };
        _driver.BeginOutputReadLine();
        _driver.BeginErrorReadLine();
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(60) };
        try
        {
            _session = Start(browser);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private string Start(string browser)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                var status = _http.GetFromJsonAsync<JsonObject>("status").GetAwaiter().GetResult();
                if (status?["value"]?["ready"]?.GetValue<bool>() == true) break;
            }
            catch (HttpRequestException)
            {
            }
            if (DateTime.UtcNow > deadline) throw new InvalidOperationException("chromedriver did not start within 20 s");
            Thread.Sleep(100);
        }
        Directory.CreateDirectory(_profile);
        var capabilities = new JsonObject
        {
            ["capabilities"] = new JsonObject
            {
                ["alwaysMatch"] = new JsonObject
                {
                    ["browserName"] = "chrome",
                    ["goog:chromeOptions"] = new JsonObject
                    {
                        ["binary"] = browser,
                        ["args"] = new JsonArray("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--window-size=1280,2000", $"--user-data-dir={_profile}"),
                    },
                    ["goog:loggingPrefs"] = new JsonObject { ["browser"] = "ALL" },
                },
            },
        };
        return Post("session", capabilities)["sessionId"]!.GetValue<string>();
    }

    private static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private JsonNode Post(string path, JsonNode body)
    {
        using var response = _http.PostAsync(path, new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json")).GetAwaiter().GetResult();
        var json = JsonNode.Parse(response.Content.ReadAsStringAsync().GetAwaiter().GetResult())!;
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"WebDriver {path}: {json["value"]?["message"]}");
        return json["value"]!;
    }

    private JsonNode Get(string path)
    {
        var json = _http.GetFromJsonAsync<JsonObject>(path).GetAwaiter().GetResult()!;
        return json["value"]!;
    }

    /// <summary>Opens <paramref name="file"/>, waits for it to load, and reports its images and console errors.</summary>
    public PageCheck Check(string file)
    {
        Post($"session/{_session}/se/log", new JsonObject { ["type"] = "browser" }); // drops earlier pages' messages
        Post($"session/{_session}/url", new JsonObject { ["url"] = new Uri(Path.GetFullPath(file)).AbsoluteUri });
        var images = Post($"session/{_session}/execute/sync", new JsonObject
        {
            ["script"] = "return Array.from(document.images).map(i => [i.alt, i.complete ? i.naturalWidth : -1, i.complete ? i.naturalHeight : -1]);",
            ["args"] = new JsonArray(),
        }).AsArray().Select(i => (i![0]!.GetValue<string>(), i[1]!.GetValue<int>(), i[2]!.GetValue<int>())).ToList();
        int rows = Post($"session/{_session}/execute/sync", new JsonObject
        {
            ["script"] = "return document.querySelectorAll('table tbody tr').length;",
            ["args"] = new JsonArray(),
        }).GetValue<int>();
        var log = Post($"session/{_session}/se/log", new JsonObject { ["type"] = "browser" }).AsArray()
            .Where(e => e!["level"]!.GetValue<string>() == "SEVERE")
            .Select(e => e!["message"]!.GetValue<string>())
            .ToList();
        byte[] screenshot = Convert.FromBase64String(Get($"session/{_session}/screenshot").GetValue<string>());
        var widths = Post($"session/{_session}/execute/sync", new JsonObject
        {
            ["script"] = """
                const root = document.documentElement, table = document.querySelector('table');
                const box = table ? table.parentElement : null;
                return [window.innerWidth, root.scrollWidth - root.clientWidth,
                        table ? Math.max(0, Math.ceil(table.getBoundingClientRect().width) - box.clientWidth) : -1];
                """,
            ["args"] = new JsonArray(),
        }).AsArray().Select(n => n!.GetValue<int>()).ToList();
        return new PageCheck(images, log, rows, screenshot) { ViewportWidth = widths[0], PageOverflow = widths[1], TableOverflow = widths[2] };
    }

    public void Dispose()
    {
        try
        {
            if (_session.Length > 0) _http.DeleteAsync($"session/{_session}").GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
        }
        if (!_driver.HasExited) _driver.Kill(entireProcessTree: true);
        _driver.WaitForExit(5000);
        _driver.Dispose();
        _http.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
