using System.Net;
using Microsoft.Playwright;
using Shoal.Core;
using Shoal.Integration.Tests.Support;
using Xunit.Abstractions;

namespace Shoal.Integration.Tests.Web;

/// <summary>The Transfers page follows a download to the node live, and its Pause, Resume and Cancel buttons work.</summary>
[Collection(BrowserCollection.Name)]
public sealed class WebUiTransferTests(BrowserFixture browser, ITestOutputHelper output) : BrowserTest(browser, output)
{
    /// <summary>A's upload limit: 64 MiB take half a minute, far longer than the test needs to pause, resume and cancel.</summary>
    private const long UploadLimit = 2 << 20;

    private const float TransferTimeout = 60_000;

    [Fact]
    public async Task A_download_to_the_node_shows_growing_progress_and_pauses_resumes_and_cancels_from_the_page()
    {
        var a = Own(await TestNode.StartFoundingAsync("a", uploadLimit: UploadLimit));
        var b = Own(await TestNode.StartJoiningAsync("b", a));
        await b.WaitForPeerAsync(a);
        const string name = "big-archive.bin";
        var shared = await a.ShareAsync(TestFiles.Create(a.Directory.Combine("share", name), 64 << 20, seed: 64));
        var id = FileId.Parse(shared.Id);
        await b.WaitForHoldersAsync(id, 1);

        var page = await OpenAsync(b, "/files");
        var fileRow = page.GetByRole(AriaRole.Table, new() { Name = "Files" }).Locator($"tbody tr[data-id='{id}']");
        await Assertions.Expect(fileRow).ToContainTextAsync(name);
        await fileRow.GetByRole(AriaRole.Button, new() { Name = "Get to node" }).ClickAsync();

        await page.GetByRole(AriaRole.Navigation, new() { Name = "Main" }).GetByRole(AriaRole.Link, new() { Name = "Transfers" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Transfers");
        var row = page.GetByRole(AriaRole.Table, new() { Name = "Transfers" }).Locator($"tbody tr[data-id='{id}']");
        var state = row.Locator(".badge");
        var progressLabel = $"Progress of {name}";
        await Assertions.Expect(row.GetByRole(AriaRole.Progressbar, new() { Name = progressLabel })).ToHaveJSPropertyAsync("max", 64 << 20, new() { Timeout = TransferTimeout });

        // The bar moves on its own, pushed by the node's event stream.
        var first = await WaitForProgressAboveAsync(page, progressLabel, 0);
        var second = await WaitForProgressAboveAsync(page, progressLabel, first);
        Assert.True(second < 64 << 20, "the download finished before the test could pause it; lower UploadLimit");
        await Assertions.Expect(state).ToHaveTextAsync("downloading");

        // Pause: the node keeps what it has, the row offers Resume instead of Pause.
        await row.GetByRole(AriaRole.Button, new() { Name = "Pause" }).ClickAsync();
        await Assertions.Expect(state).ToHaveTextAsync("paused");
        await Assertions.Expect(row.GetByRole(AriaRole.Button, new() { Name = "Pause" })).ToBeHiddenAsync();
        Assert.Equal("paused", (await b.TransferAsync(id.ToString())).State);
        var partial = Path.Combine(b.Node.Home.PartialDirectory, $"{id}.part");
        Assert.True(File.Exists(partial), $"pausing removed {partial}");
        var paused = await WaitForProgressAboveAsync(page, progressLabel, 0);
        Assert.True(paused >= second, $"paused at {paused} bytes, below the {second} seen before");

        // Resume carries on from there.
        await row.GetByRole(AriaRole.Button, new() { Name = "Resume" }).ClickAsync();
        await Assertions.Expect(row.GetByRole(AriaRole.Button, new() { Name = "Pause" })).ToBeVisibleAsync();
        await WaitForProgressAboveAsync(page, progressLabel, paused);
        await Assertions.Expect(state).ToHaveTextAsync("downloading");

        // Cancel (no question asked): the node forgets the download and deletes its partial file. The row goes away,
        // or stays as "cancelled" until the node's next list of transfers replaces it.
        await row.GetByRole(AriaRole.Button, new() { Name = "Cancel" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Table, new() { Name = "Transfers" }).Locator($"tbody tr[data-id='{id}']:not(:has(.state-cancelled))"))
            .ToHaveCountAsync(0);
        var answer = await b.Api.GetAsync($"api/downloads/{id}");
        Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode);
        Assert.Null(b.Node.Transfers.Get(id));
        Assert.Empty(Directory.EnumerateFiles(b.Node.Home.PartialDirectory, "*.part"));
        Assert.False(File.Exists(Path.Combine(b.Node.DownloadDirectory, name)), "a cancelled download left its file");
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToHaveCountAsync(0);
    }

    /// <summary>Waits (the browser polls) until the labelled progress bar's value exceeds <paramref name="above"/>; returns the value.</summary>
    private static async Task<double> WaitForProgressAboveAsync(IPage page, string label, double above)
    {
        var value = await page.WaitForFunctionAsync(
            """
            ([label, above]) => {
              const bar = [...document.querySelectorAll('progress')].find(p => p.getAttribute('aria-label') === label);
              return bar && bar.value > above ? bar.value : null;
            }
            """,
            new object[] { label, above },
            new() { Timeout = TransferTimeout });
        return await value.JsonValueAsync<double>();
    }
}
