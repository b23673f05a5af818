using Microsoft.Playwright;
using Shoal.Integration.Tests.Support;
using Xunit.Abstractions;

namespace Shoal.Integration.Tests.Web;

/// <summary>
/// Base of the browser tests: a new <see cref="IBrowserContext"/> per test in the collection's shared Chromium,
/// closed with its pages when the test ends. Subclasses carry <c>[Collection(BrowserCollection.Name)]</c>.
/// With <paramref name="output"/>, the page's console errors and uncaught exceptions go to the test's output.
/// </summary>
public abstract class BrowserTest(BrowserFixture browser, ITestOutputHelper? output = null) : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _owned = [];
    private IBrowserContext? _context;

    protected IBrowserContext Context => _context ?? throw new InvalidOperationException("the browser context is not open");

    public async Task InitializeAsync() => _context = await browser.NewContextAsync();

    /// <summary>Closes the browser context with its pages first, then stops what the test owns (see <see cref="Own"/>), last owned first.</summary>
    public async Task DisposeAsync()
    {
        if (_context is not null) await _context.DisposeAsync();
        List<Exception> errors = [];
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            try
            {
                await _owned[i].DisposeAsync();
            }
            catch (Exception e)
            {
                errors.Add(e);
            }
        }

        if (errors.Count > 0) throw new AggregateException("stopping what the browser test owned", errors);
    }

    /// <summary>
    /// Starts a founding node that lives until the test's pages are closed. Prefer it (or <see cref="Own"/>) to
    /// <c>await using</c>: a node stopped while a page is open waits for the page's event stream to end.
    /// </summary>
    protected async Task<TestNode> StartNodeAsync(string name = "a") => Own(await TestNode.StartFoundingAsync(name));

    /// <summary>Disposes <paramref name="resource"/> (a node, a mesh) when the test ends, after the browser context is closed.</summary>
    protected T Own<T>(T resource)
        where T : IAsyncDisposable
    {
        _owned.Add(resource);
        return resource;
    }

    /// <summary>Opens <paramref name="path"/> of the node's web UI in a new page; fails unless the server answers 2xx.</summary>
    protected async Task<IPage> OpenAsync(TestNode node, string path = "/")
    {
        var url = new Uri(node.Node.ApiUrl, path);
        var page = await Context.NewPageAsync();
        if (output is not null)
        {
            page.Console += (_, message) =>
            {
                if (message.Type is "error" or "warning") Log($"browser console {message.Type}: {message.Text}");
            };
            page.PageError += (_, error) => Log($"browser page error: {error}");
        }

        IResponse? response;
        try
        {
            response = await page.GotoAsync(url.ToString());
        }
        catch (PlaywrightException e) when (e.Message.Contains("ERR_HTTP_RESPONSE_CODE_FAILURE", StringComparison.Ordinal))
        {
            // Chromium fails the navigation itself for an error status with an empty body; say which status it was.
            var status = await Context.APIRequest.GetAsync(url.ToString());
            throw new InvalidOperationException($"GET {url} answered {status.Status} {status.StatusText}", e);
        }

        if (response is null || !response.Ok)
        {
            throw new InvalidOperationException($"GET {url} answered {(response is null ? "nothing" : $"{response.Status} {response.StatusText}")}");
        }

        return page;
    }

    /// <summary>Whether <see cref="SaveScreenshotAsync"/> writes: only when the environment variable SHOAL_SCREENSHOTS is "1".</summary>
    protected static bool ScreenshotsEnabled => Environment.GetEnvironmentVariable("SHOAL_SCREENSHOTS") == "1";

    /// <summary>
    /// Writes the page, at 1280x800 (<see cref="BrowserFixture.ViewportWidth"/>), to docs/screenshots/<paramref name="name"/>.png
    /// at the repository root, keeping the documentation's screenshots current. An unchanged image is not rewritten.
    /// Does nothing and returns null unless SHOAL_SCREENSHOTS=1 (see <see cref="ScreenshotsEnabled"/>), so an ordinary
    /// test run leaves docs/ alone: <c>SHOAL_SCREENSHOTS=1 dotnet test tests/Shoal.Integration.Tests --filter "FullyQualifiedName~Web."</c>
    /// renews the images.
    /// </summary>
    protected static async Task<string?> SaveScreenshotAsync(IPage page, string name)
    {
        if (name.Length == 0 || name.IndexOfAny(['/', '\\']) >= 0 || name.StartsWith('.'))
        {
            throw new ArgumentException($"a screenshot name is a plain file name without .png: \"{name}\"", nameof(name));
        }

        if (!ScreenshotsEnabled) return null;

        if (page.ViewportSize is not { Width: BrowserFixture.ViewportWidth, Height: BrowserFixture.ViewportHeight })
        {
            await page.SetViewportSizeAsync(BrowserFixture.ViewportWidth, BrowserFixture.ViewportHeight);
        }

        var image = await page.ScreenshotAsync(new() { Type = ScreenshotType.Png, Animations = ScreenshotAnimations.Disabled });
        var directory = Path.Combine(ShoalCli.RepositoryRoot, "docs", "screenshots");
        Directory.CreateDirectory(directory);
        var file = Path.Combine(directory, name + ".png");
        if (!File.Exists(file) || !(await File.ReadAllBytesAsync(file)).AsSpan().SequenceEqual(image))
        {
            var temporary = file + ".tmp";
            await File.WriteAllBytesAsync(temporary, image);
            File.Move(temporary, file, overwrite: true);
        }

        return file;
    }

    private void Log(string line)
    {
        try
        {
            output?.WriteLine(line);
        }
        catch (InvalidOperationException)
        {
            // The test has already finished: xunit takes no more output from it.
        }
    }
}
