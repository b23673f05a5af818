using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Shoal.Integration.Tests.Web;

/// <summary>The node serves its web UI at "/": a real node in this process, a real Chromium.</summary>
[Collection(BrowserCollection.Name)]
public sealed class WebUiSmokeTests(BrowserFixture browser, ITestOutputHelper output) : BrowserTest(browser, output)
{
    [Fact]
    public async Task The_web_ui_loads_with_its_title_and_the_access_token()
    {
        var node = await StartNodeAsync("a");

        var page = await OpenAsync(node);

        await Assertions.Expect(page).ToHaveTitleAsync(new Regex("Shoal"));
        Assert.True(await page.EvaluateAsync<bool>("""document.querySelector('meta[name="shoal-token"]') !== null"""), "no <meta name=\"shoal-token\">");
    }
}
