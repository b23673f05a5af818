using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Shoal.Integration.Tests.Support;
using Xunit.Abstractions;

namespace Shoal.Integration.Tests.Web;

/// <summary>Keyboard use of the Files page: "/" jumps to the search box, and typing filters the table as you type.</summary>
[Collection(BrowserCollection.Name)]
public sealed class WebUiKeyboardTests(BrowserFixture browser, ITestOutputHelper output) : BrowserTest(browser, output)
{
    [Fact]
    public async Task Slash_focuses_the_file_search_and_typing_filters_the_table()
    {
        var a = await StartNodeAsync("a");
        var report = await a.ShareAsync(TestFiles.Create(a.Directory.Combine("share", "annual-report.pdf"), 40_000, seed: 1));
        var photo = await a.ShareAsync(TestFiles.Create(a.Directory.Combine("share", "beach-photo.jpg"), 50_000, seed: 2));

        var page = await OpenAsync(a, "/files");
        var rows = page.GetByRole(AriaRole.Table, new() { Name = "Files" }).Locator("tbody tr");
        await Assertions.Expect(rows).ToHaveCountAsync(2);
        var search = page.GetByLabel("Search files");
        await Assertions.Expect(search).Not.ToBeFocusedAsync();

        await page.Keyboard.PressAsync("/");
        await Assertions.Expect(search).ToBeFocusedAsync();
        await Assertions.Expect(search).ToHaveValueAsync(""); // the "/" itself is not typed into the box

        await page.Keyboard.TypeAsync("PHOT"); // search is case-insensitive
        await Assertions.Expect(rows).ToHaveCountAsync(1);
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-id", photo.Id);
        await Assertions.Expect(rows.First).ToContainTextAsync("beach-photo.jpg");
        await Assertions.Expect(page).ToHaveURLAsync(new Regex(@"/files\?q=PHOT$"));

        // Clearing the box brings every file back; a name nothing matches says so.
        await search.FillAsync("");
        await Assertions.Expect(rows).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator($"tbody tr[data-id='{report.Id}']")).ToBeVisibleAsync();
        await page.Keyboard.TypeAsync("zzz");
        await Assertions.Expect(page.GetByText("No file names contain “zzz”.")).ToBeVisibleAsync();
    }
}
