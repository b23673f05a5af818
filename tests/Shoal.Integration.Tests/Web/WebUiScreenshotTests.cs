using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Shoal.Core;
using Shoal.Integration.Tests.Support;
using Shoal.Node.Home;
using Xunit.Abstractions;

namespace Shoal.Integration.Tests.Web;

/// <summary>
/// Every page of the UI with real content in it: a peer, files, transfers, an upload, a folder change. Each page is
/// reached through the navigation and checked; with SHOAL_SCREENSHOTS=1 each is also saved to docs/screenshots.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class WebUiScreenshotTests(BrowserFixture browser, ITestOutputHelper output) : BrowserTest(browser, output)
{
    /// <summary>How long a transfer or the folder's watcher may take on a busy machine.</summary>
    private const float Slow = 60_000;

    [Fact]
    public async Task Every_page_shows_the_network_and_is_saved_for_the_documentation()
    {
        var laptop = Own(await TestNode.StartFoundingAsync("laptop"));
        // The desktop sends slowly, so the laptop's download of the video is still under way while the pages are shown.
        var desktop = Own(await TestNode.StartAsync("desktop", NodeSetup.CreateInvite(laptop.Node.Home, [laptop.Address]), [laptop.Address], uploadLimit: 1 << 20));
        await laptop.WaitForPeerAsync(desktop);
        await desktop.WaitForPeerAsync(laptop);
        var video = await desktop.ShareAsync(TestFiles.Create(desktop.Directory.Combine("share", "holiday-video.mp4"), 40 << 20, seed: 1));
        var report = await desktop.ShareAsync(TestFiles.Create(desktop.Directory.Combine("share", "quarterly-report.pdf"), (3 << 19) + 4_321, seed: 2));
        await laptop.WaitForHoldersAsync(FileId.Parse(video.Id), 1);
        await laptop.WaitForHoldersAsync(FileId.Parse(report.Id), 1);
        await File.WriteAllTextAsync(laptop.InFolder("shopping-list.txt"), "milk\neggs\nbread\n");

        var page = await OpenAsync(laptop, "/");
        var heading = page.GetByRole(AriaRole.Heading, new() { Level = 1 });
        var nav = page.GetByRole(AriaRole.Navigation, new() { Name = "Main" });

        // Overview: the desktop online.
        await Assertions.Expect(heading).ToHaveTextAsync("Overview");
        await Assertions.Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "Live" })).ToBeVisibleAsync();
        var peer = page.GetByRole(AriaRole.Table, new() { Name = "Peers" }).Locator($"tbody tr[data-id='{desktop.Node.DeviceId}']");
        await Assertions.Expect(peer).ToContainTextAsync("desktop");
        await Assertions.Expect(peer.Locator(".status-online")).ToHaveTextAsync("online");
        await ScreenshotAsync(page, "overview");

        // Files: get both of the desktop's files to this node.
        await nav.GetByRole(AriaRole.Link, new() { Name = "Files" }).ClickAsync();
        await Assertions.Expect(heading).ToHaveTextAsync("Files");
        var files = page.GetByRole(AriaRole.Table, new() { Name = "Files" });
        foreach (var file in new[] { report, video })
        {
            var row = files.Locator($"tbody tr[data-id='{file.Id}']");
            await Assertions.Expect(row).ToContainTextAsync(file.Name);
            await row.GetByRole(AriaRole.Button, new() { Name = "Get to node" }).ClickAsync();
        }

        // Upload: one file shared from this node through the browser.
        await nav.GetByRole(AriaRole.Link, new() { Name = "Upload" }).ClickAsync();
        await Assertions.Expect(heading).ToHaveTextAsync("Upload");
        const string uploaded = "presentation.pdf";
        await page.GetByLabel("Choose files").SetInputFilesAsync(TestFiles.Create(laptop.Directory.Combine("picked", uploaded), 700_000, seed: 3));
        await page.GetByRole(AriaRole.Button, new() { Name = "Upload", Exact = true }).ClickAsync();
        var uploadedLink = page.GetByLabel($"Link to {uploaded}");
        await Assertions.Expect(uploadedLink).ToHaveValueAsync(new Regex("^shoal:"), new() { Timeout = Slow });
        await Assertions.Expect(page.GetByText("Done: shared from this node")).ToBeVisibleAsync();
        await page.EvaluateAsync("() => window.scrollTo(0, document.body.scrollHeight)"); // the finished upload under the form
        await Assertions.Expect(uploadedLink).ToBeInViewportAsync();
        await ScreenshotAsync(page, "upload");

        // Transfers: the report done, the video under way.
        await nav.GetByRole(AriaRole.Link, new() { Name = "Transfers" }).ClickAsync();
        await Assertions.Expect(heading).ToHaveTextAsync("Transfers");
        var transfers = page.GetByRole(AriaRole.Table, new() { Name = "Transfers" });
        await Assertions.Expect(transfers.Locator($"tbody tr[data-id='{report.Id}'] .badge")).ToHaveTextAsync("completed", new() { Timeout = Slow });
        var videoTransfer = transfers.Locator($"tbody tr[data-id='{video.Id}']");
        await Assertions.Expect(videoTransfer.GetByRole(AriaRole.Progressbar, new() { Name = $"Progress of {video.Name}" }))
            .Not.ToHaveJSPropertyAsync("value", 0, new() { Timeout = Slow });
        await ScreenshotAsync(page, "transfers");

        // Files again: three files, the report and the upload here.
        await nav.GetByRole(AriaRole.Link, new() { Name = "Files" }).ClickAsync();
        await Assertions.Expect(heading).ToHaveTextAsync("Files");
        await Assertions.Expect(files.Locator($"tbody tr[data-id='{report.Id}'] .local-complete")).ToHaveTextAsync("here");
        await Assertions.Expect(files.Locator("tbody tr").Filter(new() { HasText = uploaded }).Locator(".local-complete")).ToHaveTextAsync("here");
        await Assertions.Expect(files.Locator($"tbody tr[data-id='{video.Id}']")).ToBeVisibleAsync();
        await ScreenshotAsync(page, "files");

        // Folder: the file written into the synced folder, added by this node.
        await nav.GetByRole(AriaRole.Link, new() { Name = "Folder" }).ClickAsync();
        await Assertions.Expect(heading).ToHaveTextAsync("Folder");
        var change = page.GetByRole(AriaRole.Table, new() { Name = "Folder events" }).Locator("tbody tr").Filter(new() { HasText = "shopping-list.txt" });
        await Assertions.Expect(change).ToContainTextAsync("added", new() { Timeout = Slow });
        await Assertions.Expect(change).ToContainTextAsync("this node");
        await ScreenshotAsync(page, "folder");

        // Settings: the node's values and its invite code.
        await nav.GetByRole(AriaRole.Link, new() { Name = "Settings" }).ClickAsync();
        await Assertions.Expect(heading).ToHaveTextAsync("Settings");
        await Assertions.Expect(page.GetByLabel("Name", new() { Exact = true })).ToHaveValueAsync("laptop");
        await Assertions.Expect(page.GetByLabel("Download directory")).ToHaveValueAsync(laptop.Node.DownloadDirectory);
        await Assertions.Expect(page.GetByRole(AriaRole.Textbox, new() { Name = "Invite code", Exact = true })).ToHaveValueAsync(new Regex(@"^\S{20,}$"));
        await ScreenshotAsync(page, "settings");

        // A file's page, reached from its name in the list: the video with its download to this node.
        await nav.GetByRole(AriaRole.Link, new() { Name = "Files" }).ClickAsync();
        await files.Locator($"tbody tr[data-id='{video.Id}']").GetByRole(AriaRole.Link, new() { Name = video.Name }).ClickAsync();
        await Assertions.Expect(page).ToHaveURLAsync(new Regex($"/f/{video.Id}$"));
        await Assertions.Expect(heading).ToHaveTextAsync(video.Name);
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Download to this node" })).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Download", Exact = true })).ToBeVisibleAsync();
        await ScreenshotAsync(page, "file");
    }

    /// <summary>Checks the page shows no error; with screenshots on, waits for the short-lived notices to go first, then saves it.</summary>
    private static async Task ScreenshotAsync(IPage page, string name)
    {
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToHaveCountAsync(0);
        if (!ScreenshotsEnabled) return;
        await Assertions.Expect(page.Locator("#toasts .toast")).ToHaveCountAsync(0);
        await page.Mouse.MoveAsync(BrowserFixture.ViewportWidth - 1, BrowserFixture.ViewportHeight - 1); // no hover effect in the picture
        await SaveScreenshotAsync(page, name);
    }
}
