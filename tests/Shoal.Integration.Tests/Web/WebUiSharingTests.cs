using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Shoal.Core;
using Shoal.Integration.Tests.Support;
using Xunit.Abstractions;

namespace Shoal.Integration.Tests.Web;

/// <summary>A file uploaded through one node's page reaches another node's page live and downloads from there intact.</summary>
[Collection(BrowserCollection.Name)]
public sealed class WebUiSharingTests(BrowserFixture browser, ITestOutputHelper output) : BrowserTest(browser, output)
{
    private static readonly LocatorAssertionsToHaveValueOptions Transfer = new() { Timeout = 60_000 };

    [Fact]
    public async Task A_file_uploaded_on_one_nodes_page_shows_up_live_on_anothers_and_downloads_from_it_unchanged()
    {
        var a = await StartNodeAsync("a");
        var b = Own(await TestNode.StartJoiningAsync("b", a));
        await b.WaitForPeerAsync(a);
        await a.WaitForPeerAsync(b);
        const string name = "holiday-video.bin";
        var source = TestFiles.Create(a.Directory.Combine("picked", name), (3 << 20) + 12_345, seed: 7);

        // B's Files page is open before the file exists: it must learn of it from the event stream, not a reload.
        var pageB = await OpenAsync(b, "/files");
        await Assertions.Expect(pageB.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Files");
        await Assertions.Expect(pageB.GetByText("No files in the network yet.")).ToBeVisibleAsync();

        var pageA = await OpenAsync(a, "/upload");
        await pageA.GetByLabel("Choose files").SetInputFilesAsync(source);
        await Assertions.Expect(pageA.GetByRole(AriaRole.Radio, new() { Name = "Share" })).ToBeCheckedAsync();
        await pageA.GetByRole(AriaRole.Button, new() { Name = "Upload", Exact = true }).ClickAsync();
        var linkField = pageA.GetByLabel($"Link to {name}");
        await Assertions.Expect(linkField).ToHaveValueAsync(new Regex("^shoal:"), Transfer);
        await Assertions.Expect(pageA.GetByRole(AriaRole.Progressbar, new() { Name = $"Upload of {name}" })).ToHaveJSPropertyAsync("value", new FileInfo(source).Length);
        await Assertions.Expect(pageA.GetByText("Done: shared from this node")).ToBeVisibleAsync();
        var link = ShoalLink.Parse(await linkField.InputValueAsync());
        Assert.Equal(name, link.Name);

        var row = pageB.GetByRole(AriaRole.Table, new() { Name = "Files" }).Locator($"tbody tr[data-id='{link.Id}']");
        await Assertions.Expect(row).ToContainTextAsync(name);
        await Assertions.Expect(row.GetByRole(AriaRole.Button, new() { Name = "Remove" })).ToBeHiddenAsync(); // B holds none of it

        var download = await pageB.RunAndWaitForDownloadAsync(() => row.GetByRole(AriaRole.Button, new() { Name = "Download" }).ClickAsync());
        Assert.Equal(name, download.SuggestedFilename);
        var saved = a.Directory.Combine("browser-downloads", name);
        await download.SaveAsAsync(saved);
        Assert.Null(await download.FailureAsync());
        Assert.Equal(TestFiles.Sha256(source), TestFiles.Sha256(saved));

        // The link, pasted into B's "open a link" box, opens the file's own page.
        await pageB.GetByLabel("Shoal link").FillAsync(link.ToString());
        await pageB.GetByRole(AriaRole.Button, new() { Name = "Open", Exact = true }).ClickAsync();
        await Assertions.Expect(pageB).ToHaveURLAsync(new Regex($"/f/{link.Id}"));
        await Assertions.Expect(pageB.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync(name);
        await Assertions.Expect(pageB.GetByRole(AriaRole.Button, new() { Name = "Get to node" })).ToBeVisibleAsync();
        await Assertions.Expect(pageB.GetByRole(AriaRole.Alert)).ToHaveCountAsync(0);

        // The web form of the link, opened directly: the node serves the page for /f/<id> itself.
        var filePage = await OpenAsync(b, $"/f/{link.Id}");
        await Assertions.Expect(filePage.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync(name);
        await Assertions.Expect(filePage.GetByLabel("Shoal link")).ToHaveValueAsync(link.ToString());
    }
}
