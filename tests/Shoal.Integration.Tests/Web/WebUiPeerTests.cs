using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Shoal.Integration.Tests.Support;
using Xunit.Abstractions;

namespace Shoal.Integration.Tests.Web;

/// <summary>The Overview page follows peers live: a node that stops turns "offline" without a reload.</summary>
[Collection(BrowserCollection.Name)]
public sealed class WebUiPeerTests(BrowserFixture browser, ITestOutputHelper output) : BrowserTest(browser, output)
{
    [Fact]
    public async Task A_peer_that_stops_turns_offline_on_the_overview_without_a_reload()
    {
        var a = await StartNodeAsync("a");
        // B is stopped mid-test while A's page stays open (no page of B's is ever open, so stopping waits for nothing);
        // owning it still cleans up its directory, and stops it if the test fails before that.
        var b = Own(await TestNode.StartJoiningAsync("b", a));
        await a.WaitForPeerAsync(b);

        var page = await OpenAsync(a, "/");
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Overview");
        var row = page.GetByRole(AriaRole.Table, new() { Name = "Peers" }).Locator($"tbody tr[data-id='{b.Node.DeviceId}']");
        var status = row.Locator(".badge.status-online, .badge.status-offline");
        await Assertions.Expect(row.Locator(".strong")).ToHaveTextAsync("b"); // the peer's name
        await Assertions.Expect(status).ToHaveTextAsync("online");
        await Assertions.Expect(status).ToHaveClassAsync("badge status-online");
        await Assertions.Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "Live" })).ToBeVisibleAsync();

        // The page's load event happened once, before B stopped; a reload would show the offline state too, so count them.
        var loads = 0;
        page.Load += (_, _) => loads++;
        await b.StopAsync();

        await Assertions.Expect(status).ToHaveTextAsync("offline");
        await Assertions.Expect(status).ToHaveClassAsync("badge status-offline");
        await Assertions.Expect(row.Locator("time")).ToHaveAttributeAsync("datetime", new Regex(@"^\d{4}-")); // "last seen" counts from then
        Assert.Equal(0, loads);
        await Assertions.Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "Live" })).ToBeVisibleAsync(); // A's own stream never broke
    }
}
