namespace Mlx.Formats.Internal;

internal static class Messages
{
    /// <summary>The refusal for anything that is, or would need, a Python pickle.</summary>
    public const string Pickle =
        "this is a Python pickle (or needs one to load): a pickle is code, and it is never loaded; " +
        "convert it to .safetensors or .npy with plain dtypes";
}
