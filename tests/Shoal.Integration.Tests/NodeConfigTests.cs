using Shoal.Integration.Tests.Support;
using Shoal.Node.Home;

namespace Shoal.Integration.Tests;

public sealed class NodeConfigTests
{
    [Fact]
    public void Put_and_trash_settings_are_read_from_the_config()
    {
        using var directory = new TempDirectory("shoal-config");
        var home = new NodeHome(directory.Combine("home"));
        Directory.CreateDirectory(home.Root);
        File.WriteAllText(home.ConfigPath, """{ "name": "desk", "storeQuota": 1048576, "trashDays": 7, "downAfterSeconds": 12 }""");

        var config = NodeConfig.Load(home);

        Assert.Equal((1048576L, 7, 12), (config.StoreQuota, config.TrashDays, config.DownAfterSeconds));
    }

    [Theory]
    [InlineData("""{ "storeQuota": -1 }""", "storeQuota")]
    [InlineData("""{ "trashDays": -1 }""", "trashDays")]
    [InlineData("""{ "downAfterSeconds": 0 }""", "downAfterSeconds")]
    public void A_setting_out_of_range_is_refused_with_its_name(string json, string setting)
    {
        using var directory = new TempDirectory("shoal-config");
        var home = new NodeHome(directory.Combine("home"));
        Directory.CreateDirectory(home.Root);
        File.WriteAllText(home.ConfigPath, json);

        var error = Assert.Throws<InvalidDataException>(() => NodeConfig.Load(home));

        Assert.Contains(setting, error.Message);
    }
}
