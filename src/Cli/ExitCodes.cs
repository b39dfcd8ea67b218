namespace Mlx.Cli;

/// <summary>Process exit codes shared by all commands.</summary>
internal static class ExitCodes
{
    /// <summary>Everything succeeded.</summary>
    public const int Ok = 0;

    /// <summary>An unexpected internal error.</summary>
    public const int Internal = 1;

    /// <summary>Bad command line.</summary>
    public const int Usage = 2;

    /// <summary>A file was malformed or over a limit.</summary>
    public const int BadFile = 3;

    /// <summary>A model signature (or a pinned digest) did not verify.</summary>
    public const int VerificationFailed = 4;

    /// <summary>A path was refused (outside the folder, a link leading out, not a regular file).</summary>
    public const int PathRefused = 5;
}
