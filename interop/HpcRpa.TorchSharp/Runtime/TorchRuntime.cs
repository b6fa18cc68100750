using static TorchSharp.torch;

namespace HpcRpa.TorchSharp.Runtime;

/// <summary>TorchSharp's native library could not load; the message says which version is missing and the fix.</summary>
public sealed class TorchUnavailableException(string message, Exception? inner = null) : Errors.HpcRpaException(message, inner)
{
    public static TorchUnavailableException From(Exception inner)
    {
        string lib = FindLibStdCxx() ?? "(libstdc++.so.6 not found)";
        bool has32 = lib.StartsWith('/') && File.Exists(lib) && File.ReadAllText(lib).Contains("GLIBCXX_3.4.32", StringComparison.Ordinal);
        string why = has32
            ? $"the system libstdc++ ({lib}) has GLIBCXX_3.4.32, so the cause is elsewhere: {inner.Message}"
            : $"libLibTorchSharp.so (TorchSharp-cpu 0.107) needs GLIBCXX_3.4.32, which {lib} lacks (Debian 12 has up to 3.4.30). " +
              "Rebuild with ./build.sh (or dotnet build) so the post-build step patches the copy next to the app " +
              "(native/patch-torchsharp.sh: needs g++ and patchelf), or install a libstdc++ that provides GLIBCXX_3.4.32.";
        return new TorchUnavailableException($"TorchSharp cannot load: {why}", inner);
    }

    private static string? FindLibStdCxx()
    {
        foreach (var dir in new[] { "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib" })
        {
            var p = Path.Combine(dir, "libstdc++.so.6");
            if (File.Exists(p)) return Path.GetFullPath(p);
        }
        return null;
    }
}

/// <summary>Loads libtorch once, or explains why it cannot.</summary>
public static class TorchRuntime
{
    private static readonly Lazy<Exception?> Load = new(() =>
    {
        try
        {
            using var t = zeros(1);
            return null;
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or NotSupportedException or InvalidOperationException or EntryPointNotFoundException)
        {
            return e;
        }
    });

    public static bool IsAvailable => Load.Value is null;

    /// <summary>Throws <see cref="TorchUnavailableException"/> (not a crash) when libtorch cannot load.</summary>
    public static void EnsureLoaded()
    {
        if (Load.Value is { } e) throw TorchUnavailableException.From(e);
    }
}
