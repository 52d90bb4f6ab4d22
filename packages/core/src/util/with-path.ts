/**
 * Runs a file operation whose errors may lack the path: a failed write() on an open file (ENOSPC,
 * EDQUOT) says only "write". The path is added, so the error can be reported naming the file.
 */
export async function withPath<T>(path: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    const errno = error as NodeJS.ErrnoException;
    if (errno instanceof Error && errno.code !== undefined && errno.path === undefined) errno.path = path;
    throw error;
  }
}
