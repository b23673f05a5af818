using Microsoft.Playwright;

namespace Shoal.Integration.Tests.Web;

/// <summary>The "Browser" test collection: its tests share one Chromium (see <see cref="BrowserFixture"/>) and run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    public const string Name = "Browser";
}

/// <summary>
/// One headless Chromium for the "Browser" collection, driven by Playwright. The browser is Debian's (apt package
/// chromium), never one Playwright downloads; without it every test of the collection fails, saying how to install it.
/// Each test gets its own <see cref="IBrowserContext"/> (cookies, storage, pages) through <see cref="BrowserTest"/>.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    /// <summary>Where Debian's chromium package puts the browser; SHOAL_CHROMIUM overrides it.</summary>
    public const string DefaultChromium = "/usr/bin/chromium";

    /// <summary>Viewport of every page, and so the size of the screenshots in docs/screenshots.</summary>
    public const int ViewportWidth = 1280;

    /// <inheritdoc cref="ViewportWidth"/>
    public const int ViewportHeight = 800;

    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public static string ChromiumPath => Environment.GetEnvironmentVariable("SHOAL_CHROMIUM") is { Length: > 0 } path ? path : DefaultChromium;

    public IBrowser Browser => _browser ?? throw new InvalidOperationException("the browser is not running");

    public async Task InitializeAsync()
    {
        var chromium = ChromiumPath;
        if (!File.Exists(chromium))
        {
            throw new InvalidOperationException(
                $"The browser tests need Chromium at {chromium}, which is missing. Install Debian's package: " +
                "sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium " +
                "(.ci/run installs it; SHOAL_CHROMIUM=/path/to/chromium picks another one). Playwright's own browser download is not used.");
        }

        // Auto-waiting assertions (Assertions.Expect) give up after 5 s by default; two busy cores running the
        // other collections next to these tests need more. Only a broken page ever waits this long.
        Assertions.SetDefaultExpectTimeout(15_000);
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = chromium,
            Headless = true,
            // --no-sandbox: the tests run as root (CI, containers), where Chromium refuses to start sandboxed.
            // --disable-dev-shm-usage: shared memory in /tmp rather than /dev/shm, which is 64 MB in a default Docker
            // container; Debian's /usr/bin/chromium adds it only when its own check of /dev/shm works.
            Args = ["--no-sandbox", "--disable-dev-shm-usage"],
        });
    }

    /// <summary>A fresh context: no cookies or storage shared with other tests, a fixed viewport, locale and time zone.</summary>
    public Task<IBrowserContext> NewContextAsync() =>
        Browser.NewContextAsync(new()
        {
            ViewportSize = new() { Width = ViewportWidth, Height = ViewportHeight },
            Locale = "en-US",
            TimezoneId = "UTC",
            ColorScheme = ColorScheme.Light,
        });

    public async Task DisposeAsync()
    {
        if (_browser is not null) await _browser.DisposeAsync();
        _playwright?.Dispose();
    }
}
