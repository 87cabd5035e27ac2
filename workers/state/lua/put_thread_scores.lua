-- Record the last emitted rumour score of existing threads (a missing thread is not recreated).
-- KEYS[i] thread hash; ARGV[2i-1] score (decimal string), ARGV[2i] flagged (1/0). Returns threads written.
local written = 0
for k = 1, #KEYS do
  if redis.call('EXISTS', KEYS[k]) == 1 then
    redis.call('HSET', KEYS[k], 'score', ARGV[2 * k - 1], 'flag', ARGV[2 * k])
    written = written + 1
  end
end
return written
